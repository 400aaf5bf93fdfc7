"""The real runtime archive, as the test mirror packs it from a local interpreter: packed like
the production archives, extracted from the file or while it downloads (the same tree), an
interpreter that runs. Unit tests use small archives; these take seconds each."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from support.archive_members import members, read_member
from support.builds import PYTHON_MAJOR
from support.trees import entries

from python_buildpack.files.tar_zst import extract_tar_zst
from python_buildpack.runtime.unpack_on_arrival import download_and_extract
from python_buildpack_dev.runtime_mirror.archives import file_sha256, make_runtime_archive
from python_buildpack_dev.runtime_mirror.server import serve

if TYPE_CHECKING:
    from conftest import RuntimeMirror


def test_the_real_runtime_streamed_is_the_file_extraction_and_runs(runtime_mirror: RuntimeMirror, tmp_path: Path) -> None:
    archive = runtime_mirror.archive()
    reference = tmp_path / "reference"
    extract_tar_zst(archive, reference)
    dest = tmp_path / "layers" / "python"
    pin = file_sha256(archive)
    with serve(archive.parent) as url:
        assert download_and_extract(f"{url}/{archive.name}", dest, sha256=pin, backoff=0.01) == pin
    assert entries(dest) == entries(reference)
    assert [p.name for p in dest.parent.iterdir()] == ["python"]  # no staging directory, no archive file
    proc = subprocess.run(
        [dest / "bin" / "python3", "-c", "import ssl, sqlite3; print('ok')"],
        capture_output=True,
        text=True,
        env={"LD_LIBRARY_PATH": str(dest / "lib")},
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_real_runtime_archive_extracts_and_runs(runtime_mirror: RuntimeMirror, tmp_path: Path) -> None:
    dest = tmp_path / "layers" / "python"
    extract_tar_zst(runtime_mirror.archive(), dest)

    python = dest / "bin" / "python3"
    assert python.is_symlink() and not os.readlink(python).startswith("/")
    assert os.access(python.resolve(), os.X_OK)
    assert not list(dest.glob("lib/python3*/test"))
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(dest / "lib")}
    proc = subprocess.run(
        [str(python), "-c", "import sys, json; print(sys.version); print(sys.prefix); print(json.__cached__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    version, prefix, json_pyc = proc.stdout.splitlines()
    assert version.split()[0] == platform.python_version()
    assert Path(prefix) == dest
    assert Path(json_pyc).is_relative_to(dest) and Path(json_pyc).is_file()  # shipped byte-code
    assert not list(dest.glob("lib/python3*/site-packages/pip"))  # as in production: no pip
    # Ownership is not restored: files belong to whoever runs the build.
    assert python.resolve().stat().st_uid == os.getuid()
    assert [p.name for p in dest.parent.iterdir()] == ["python"]  # no staging directory left


def test_real_archive_is_packed_like_production(runtime_mirror: RuntimeMirror) -> None:
    """No pip, unchecked-hash byte-code of this interpreter's magic, one level, no tests."""
    infos = members(runtime_mirror.archive())
    names = set(infos)
    major = PYTHON_MAJOR
    tag = f"cpython-{major.replace('.', '')}"
    assert not {n for n in names if "/site-packages/" in n} - {f"lib/python{major}/site-packages/README.txt"}
    assert not {n for n in names if n.startswith("bin/") and re.search(r"pip|pydoc|idle|2to3", n)}
    assert not {n for n in names if re.search(r"/(tests?|idle_test)/", n)}
    assert not {n for n in names if ".opt-" in n}
    header = read_member(runtime_mirror.archive(), f"lib/python{major}/__pycache__/os.{tag}.pyc")[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source not checked
    sources = {n for n in names if n.endswith(".py") and n.startswith(f"lib/python{major}/")}
    compiled = {n for n in names if n.endswith(f".{tag}.pyc")}
    assert len(compiled) > 0.95 * len(sources)


def test_archive_without_bytecode(tmp_path: Path) -> None:
    prefix = Path(sys.base_prefix)
    archive = make_runtime_archive(prefix, tmp_path, "3.0.0", "22.04", "amd64", bytecode=False)
    names = set(members(archive))
    assert f"lib/python{PYTHON_MAJOR}/os.py" in names
    assert not {n for n in names if n.endswith(".pyc")}
