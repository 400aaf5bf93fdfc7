"""The local runtime mirror: how an interpreter prefix is packed (trimmed as the production
archives are, byte-code by the archived interpreter, deterministic, cached), the catalogue it
writes, and the loopback server it runs.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path

import httpx
import pytest
from support.archive_members import members, read_member

from python_buildpack.runtime.catalog import RuntimeCatalog
from python_buildpack_dev.runtime_mirror.archives import FIXED_MTIME, file_sha256, make_runtime_archive
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import Fault, Faults, serve

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def fake_prefix(root: Path) -> Path:
    """A small install prefix with everything the packing rules keep or drop."""
    prefix = root / "prefix"
    files = {
        "bin/python3.12": "#!/bin/sh\necho python\n",
        "bin/pip3.12": f"#!{prefix}/bin/python3.12\nimport pip\n",
        "bin/pydoc3.12": f"#!{prefix}/bin/python3.12\nimport pydoc\n",
        "bin/python3.12-config": "#!/bin/sh\necho config\n",
        "bin/flask": f"#!{prefix}/bin/python3.12\nimport flask\n",
        "bin/idle3.12": f"#!{prefix}/bin/python3.12\nimport idlelib\n",
        "include/python3.12/Python.h": "/* header */\n",
        "lib/libpython3.12.so.1.0": "elf",
        "lib/python3.12/os.py": "# os\n",
        "lib/python3.12/__pycache__/os.cpython-312.pyc": "pyc",
        "lib/python3.12/json/__init__.py": "# json\n",
        "lib/python3.12/json/__pycache__/__init__.cpython-312.pyc": "pyc",
        "lib/python3.12/test/test_os.py": "# test\n",
        "lib/python3.12/unittest/test/test_case.py": "# test\n",
        "lib/python3.12/tkinter/__init__.py": "# tk\n",
        "lib/python3.12/tkinter/test/test_tk.py": "# test\n",
        "lib/python3.12/idlelib/idle.py": "# idle\n",
        "lib/python3.12/idlelib/idle_test/test_run.py": "# test\n",
        "lib/python3.12/turtledemo/demo.py": "# demo\n",
        "lib/python3.12/config-3.12-x86_64-linux-gnu/Makefile": "all:\n",
        "lib/python3.12/config-3.12-x86_64-linux-gnu/libpython3.12.a": "ar",
        "lib/python3.12/site-packages/README.txt": "readme",
        "lib/python3.12/site-packages/pip/__init__.py": "# pip\n",
        "lib/python3.12/site-packages/pip-24.0.dist-info/METADATA": "Name: pip\n",
        "lib/python3.12/site-packages/setuptools/__init__.py": "# setuptools\n",
        "lib/python3.12/site-packages/flask/__init__.py": "# flask\n",
        "lib/python3.12/site-packages/flask-3.0.dist-info/METADATA": "Name: flask\n",
        "lib/python3.12/site-packages/sandbox.pth": "import os\n",
    }
    for rel, content in files.items():
        path = prefix / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        if rel.startswith("bin/"):
            path.chmod(0o775)
    (prefix / "bin" / "python3").symlink_to("python3.12")
    (prefix / "bin" / "pip").symlink_to("pip3.12")
    (prefix / "lib" / "libpython3.12.so").symlink_to("libpython3.12.so.1.0")
    return prefix






# --- packing -------------------------------------------------------------------------------------


def test_archive_is_the_trimmed_prefix(tmp_path: Path) -> None:
    archive = make_runtime_archive(fake_prefix(tmp_path), tmp_path / "out", "3.12.1", "22.04", "amd64", bytecode=False)

    assert archive == tmp_path / "out" / "python-3.12.1-ubuntu-22.04-amd64.tar.zst"
    assert sorted(members(archive)) == sorted(
        [
            "bin",
            "bin/python3",
            "bin/python3.12",
            "bin/python3.12-config",
            "include",
            "include/python3.12",
            "include/python3.12/Python.h",
            "lib",
            "lib/libpython3.12.so",
            "lib/libpython3.12.so.1.0",
            "lib/python3.12",
            "lib/python3.12/config-3.12-x86_64-linux-gnu",
            "lib/python3.12/config-3.12-x86_64-linux-gnu/Makefile",
            "lib/python3.12/idlelib",
            "lib/python3.12/idlelib/idle.py",
            "lib/python3.12/json",
            "lib/python3.12/json/__init__.py",
            "lib/python3.12/os.py",
            "lib/python3.12/site-packages",
            "lib/python3.12/site-packages/README.txt",
            "lib/python3.12/tkinter",
            "lib/python3.12/tkinter/__init__.py",
            "lib/python3.12/turtledemo",
            "lib/python3.12/turtledemo/demo.py",
            "lib/python3.12/unittest",
        ]
    )






def test_members_are_normalised(tmp_path: Path) -> None:
    archive = make_runtime_archive(fake_prefix(tmp_path), tmp_path, "3.12.1", "22.04", "amd64", bytecode=False)
    infos = members(archive)

    assert {(i.uid, i.gid, i.uname, i.gname, i.mtime) for i in infos.values()} == {(0, 0, "", "", FIXED_MTIME)}
    assert infos["bin/python3.12"].mode == 0o755  # group write dropped, exec kept
    assert infos["lib/python3.12/os.py"].mode == 0o644
    assert infos["bin/python3"].issym() and infos["bin/python3"].linkname == "python3.12"


def test_config_script_is_kept_as_is(tmp_path: Path) -> None:
    archive = make_runtime_archive(fake_prefix(tmp_path), tmp_path, "3.12.1", "22.04", "amd64", bytecode=False)
    assert read_member(archive, "bin/python3.12-config") == b"#!/bin/sh\necho config\n"


def test_archive_is_deterministic(tmp_path: Path) -> None:
    prefix = fake_prefix(tmp_path)
    first = make_runtime_archive(prefix, tmp_path / "a", "3.12.1", "22.04", "amd64", bytecode=False)
    os.utime(prefix / "lib" / "python3.12" / "os.py", (0, 0))  # mtimes do not leak in
    second = make_runtime_archive(prefix, tmp_path / "b", "3.12.1", "22.04", "amd64", bytecode=False)
    assert first.read_bytes() == second.read_bytes()


def test_cache_builds_once_per_prefix_and_copies(tmp_path: Path) -> None:
    prefix = fake_prefix(tmp_path)
    cache = tmp_path / "cache"
    first = make_runtime_archive(prefix, tmp_path / "a", "3.12.1", "22.04", "amd64", cache_dir=cache, bytecode=False)
    (cached,) = cache.iterdir()
    built = cached.stat().st_mtime_ns

    # Other labels, same interpreter: the cached archive is reused under the new name.
    second = make_runtime_archive(prefix, tmp_path / "b", "3.12.1", "24.04", "amd64", cache_dir=cache, bytecode=False)
    assert list(cache.iterdir()) == [cached]
    assert cached.stat().st_mtime_ns == built
    assert second.name == "python-3.12.1-ubuntu-24.04-amd64.tar.zst"
    assert second.read_bytes() == first.read_bytes()

    # A copy, not a link: damaging it does not damage the cache, and the next call repairs it.
    first.write_bytes(b"damaged")
    assert file_sha256(cached) == file_sha256(second)
    make_runtime_archive(prefix, tmp_path / "a", "3.12.1", "22.04", "amd64", cache_dir=cache, bytecode=False)
    assert first.read_bytes() == second.read_bytes()


def test_cache_notices_a_changed_interpreter(tmp_path: Path) -> None:
    prefix = fake_prefix(tmp_path)
    cache = tmp_path / "cache"
    make_runtime_archive(prefix, tmp_path / "a", "3.12.1", "22.04", "amd64", cache_dir=cache, bytecode=False)
    (prefix / "lib/python3.12/site-packages/README.txt").unlink()
    archive = make_runtime_archive(prefix, tmp_path / "a", "3.12.1", "22.04", "amd64", cache_dir=cache, bytecode=False)
    assert len(list(cache.iterdir())) == 2
    assert "lib/python3.12/site-packages/README.txt" not in members(archive)


def test_not_a_prefix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not look like a Python install prefix"):
        make_runtime_archive(tmp_path, tmp_path / "out", "3.12.1", "22.04", "amd64", bytecode=False)
    assert not (tmp_path / "out" / "python-3.12.1-ubuntu-22.04-amd64.tar.zst").exists()


# --- catalogue -----------------------------------------------------------------------------------


def test_catalog_has_the_documented_format(tmp_path: Path) -> None:
    pins = {"python-3.12.1-ubuntu-22.04-amd64.tar.zst": "a" * 64}
    path = write_catalog(
        tmp_path / "catalog.toml",
        {"scalingo-22": {"3.11": "3.11.7", "3.12": "3.12.1"}, "scalingo-24": {"3.12": "3.12.1"}},
        default="3.12",
        artifacts=pins,
    )
    text = path.read_text()
    assert 'default = "3.12"' in text
    assert "[stacks.scalingo-22]" in text
    assert '"3.11" = "3.11.7"' in text
    assert "[[artifacts]]" in text
    assert tomllib.loads(text) == {
        "default": "3.12",
        "stacks": {"scalingo-22": {"3.11": "3.11.7", "3.12": "3.12.1"}, "scalingo-24": {"3.12": "3.12.1"}},
        "artifacts": [{"file": "python-3.12.1-ubuntu-22.04-amd64.tar.zst", "sha256": "a" * 64}],
    }
    # ... and the buildpack's own catalogue model accepts it.
    catalog = RuntimeCatalog.model_validate(tomllib.loads(text))
    assert catalog.sha256_for("python-3.12.1-ubuntu-22.04-amd64.tar.zst") == "a" * 64
    assert catalog.newest_patch("scalingo-22", "3.11") == "3.11.7"


def test_catalog_without_pins(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "c.toml", {"scalingo-22": {"3.13": "3.13.0"}}, default="3.13")
    assert tomllib.loads(path.read_text()) == {"default": "3.13", "stacks": {"scalingo-22": {"3.13": "3.13.0"}}}


# --- server --------------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "www" / "sub").mkdir(parents=True)
    (tmp_path / "www" / "a.bin").write_bytes(bytes(range(256)) * 1000)
    (tmp_path / "www" / "sub" / "b.bin").write_bytes(b"b")
    (tmp_path / "secret").write_text("private content")
    (tmp_path / "www" / "link").symlink_to(tmp_path / "secret")
    return tmp_path / "www"


def test_serves_files_on_loopback(site: Path) -> None:
    with serve(site) as base:
        assert base.startswith("http://127.0.0.1:")
        response = httpx.get(f"{base}/a.bin")
        assert response.status_code == 200
        assert response.content == (site / "a.bin").read_bytes()
        assert response.headers["content-length"] == str(256_000)
        assert httpx.get(f"{base}/sub/b.bin").content == b"b"
        head = httpx.head(f"{base}/a.bin")
        assert head.status_code == 200 and head.content == b""
        assert httpx.get(f"{base}/missing.bin").status_code == 404
        assert httpx.get(f"{base}/sub").status_code == 404  # no directory listings


def test_does_not_serve_outside_its_directory(site: Path) -> None:
    with serve(site) as base:
        host, port = base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port))
        conn.request("GET", "/../secret")  # sent as is, unlike httpx which normalises
        response = conn.getresponse()
        assert response.status == 404
        assert b"private content" not in response.read()
        conn.close()
        assert httpx.get(f"{base}/link").status_code == 404


def test_faults_apply_per_path_and_count_down(site: Path) -> None:
    faults = Faults()
    faults.fail("a.bin", 503, times=2)
    with serve(site, faults) as base:
        statuses = [httpx.get(f"{base}/a.bin").status_code for _ in range(3)]
        assert httpx.get(f"{base}/sub/b.bin").status_code == 200
    assert statuses == [503, 503, 200]
    assert faults.count("/a.bin") == 3
    assert faults.count("sub/b.bin") == 1


def test_fault_drop_sends_part_of_the_body_then_closes(site: Path) -> None:
    faults = Faults()
    faults.drop("a.bin", after=1000)
    with serve(site, faults) as base:
        with httpx.stream("GET", f"{base}/a.bin") as response:
            assert response.headers["content-length"] == str(256_000)
            with pytest.raises(httpx.RemoteProtocolError):
                response.read()
            assert response.num_bytes_downloaded == 1000
        assert httpx.get(f"{base}/a.bin").status_code == 200  # times=1: the next one is fine


def test_fault_hang_is_cut_short_when_the_server_stops(site: Path) -> None:
    faults = Faults()
    faults.add("a.bin", Fault(hang=600, times=None))
    with serve(site, faults) as base, pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{base}/a.bin", timeout=0.2)
    # Leaving the block returned although a handler was still meant to wait 600 s.
    assert faults.count("a.bin") == 1
