"""The download caches' pruning rules: what the last installs used stays, the rest goes.

The cache trees are laid out as the pinned tools write them (uv 0.13's buckets and links, pip's
HTTP cache with real wheel bodies, poetry's artifacts), with small files.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from pathlib import Path

from support.deps import PYTHON_HOME, PYTHON_VERSION, STACK, layer_context

from python_buildpack.caching import pruning
from python_buildpack.caching.pruning import KEEP_INSTALLS, Entry, recent, scan, stale
from python_buildpack.cnb import toml_io
from python_buildpack.layers import caches
from python_buildpack.layers.python import Runtime
from python_buildpack.tool_versions import TOOL_VERSIONS

RUNTIME = Runtime(PYTHON_HOME, PYTHON_VERSION, STACK)
TAGS = "cp311-cp311-manylinux_2_17_x86_64"


def entry(project: str, version: str | None) -> Entry:
    return Entry(project, version, ())


def test_a_release_stays_while_one_of_the_last_installs_had_it() -> None:
    installs = [{"numpy": "2.4.6", "six": "1.17.0"}, {"numpy": "2.4.5", "six": "1.17.0"}]
    entries = [entry("numpy", "2.4.6"), entry("numpy", "2.4.5"), entry("numpy", "2.4.4"), entry("six", "1.17.0")]
    assert stale(entries, installs) == [entry("numpy", "2.4.4")]


def test_a_project_entry_stays_while_the_project_is_installed_at_any_version() -> None:
    installs = [{"numpy": "2.4.6"}]
    assert stale([entry("numpy", None), entry("pandas", None)], installs) == [entry("pandas", None)]


def test_only_the_last_installs_are_remembered_newest_first_with_canonical_names() -> None:
    history: list[dict[str, str]] = []
    for version in ("1", "2", "3", "4"):
        history = recent({"Django_Filter": version}, history)
    assert history == [{"django-filter": v} for v in ("4", "3", "2")][:KEEP_INSTALLS]


def uv_cache(root: Path, releases: dict[str, list[str]]) -> None:
    """uv's layout: wheels-v8/pypi/<name>/<version>-<tags> linking to archive-v0/<id>, beside
    its .http/.lock/.msgpack files; simple-v28/pypi/<name>.rkyv, the project's index page."""
    for name, versions in releases.items():
        for version in versions:
            archive = root / "archive-v0" / f"{name}-{version}-id"
            (archive / name).mkdir(parents=True)
            (archive / name / "__init__.py").write_text("x" * 5000)
            pointer = root / "wheels-v8" / "pypi" / name / f"{version}-{TAGS}"
            pointer.parent.mkdir(parents=True, exist_ok=True)
            pointer.symlink_to(Path("../../..") / "archive-v0" / archive.name)
            for suffix in (".http", ".lock", ".msgpack"):
                pointer.with_name(pointer.name + suffix).write_text("pointer")
        (root / "simple-v28" / "pypi").mkdir(parents=True, exist_ok=True)
        (root / "simple-v28" / "pypi" / f"{name}.rkyv").write_text("index page")
    (root / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55")


def test_uv_loses_the_unused_releases_with_their_unpacked_wheels_and_pages(tmp_path: Path) -> None:
    uv_cache(tmp_path, {"numpy": ["2.4.5", "2.4.6"], "pandas": ["3.1.0"], "six": ["1.17.0"]})
    entries = scan("uv", tmp_path)
    assert {e.label for e in entries} == {"numpy 2.4.5", "numpy 2.4.6", "pandas 3.1.0", "six 1.17.0", "numpy",
                                          "pandas", "six"}  # fmt: skip
    doomed = stale(entries, [{"numpy": "2.4.6", "six": "1.17.0"}])
    assert sorted(e.label for e in doomed) == ["numpy 2.4.5", "pandas", "pandas 3.1.0"]

    freed = pruning.remove(tmp_path, doomed)

    assert freed >= 2 * 5000
    assert sorted(p.name for p in (tmp_path / "archive-v0").iterdir()) == ["numpy-2.4.6-id", "six-1.17.0-id"]
    assert sorted(p.name for p in (tmp_path / "wheels-v8" / "pypi").iterdir()) == ["numpy", "six"]
    assert [p.name for p in (tmp_path / "wheels-v8" / "pypi" / "numpy").iterdir() if p.is_symlink()] == [
        f"2.4.6-{TAGS}"
    ]
    assert sorted(p.name for p in (tmp_path / "simple-v28" / "pypi").iterdir()) == ["numpy.rkyv", "six.rkyv"]
    assert (tmp_path / "CACHEDIR.TAG").is_file()


def test_an_unpacked_wheel_that_a_kept_entry_links_to_stays(tmp_path: Path) -> None:
    uv_cache(tmp_path, {"numpy": ["2.4.5", "2.4.6"]})
    shared = tmp_path / "wheels-v8" / "pypi" / "numpy" / f"2.4.6-{TAGS}"
    shared.unlink()
    shared.symlink_to(Path("../../..") / "archive-v0" / "numpy-2.4.5-id")  # both name one archive

    pruning.remove(tmp_path, stale(scan("uv", tmp_path), [{"numpy": "2.4.6"}]))

    assert (tmp_path / "archive-v0" / "numpy-2.4.5-id" / "numpy" / "__init__.py").is_file()
    assert shared.resolve().is_dir()


def wheel(path: Path, dist_info: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        archive.writestr(f"{dist_info}.dist-info/METADATA", "Metadata-Version: 2.1\n")


def test_pip_http_cache_bodies_are_named_by_the_wheel_inside(tmp_path: Path) -> None:
    http = tmp_path / "http-v2" / "a" / "b" / "c" / "d" / "e"
    wheel(http / "old.body", "Django_Filter-25.1")
    wheel(http / "new.body", "django_filter-26.2")
    (http / "page.body").write_text('{"meta": {"api-version": "1.1"}, "files": []}')  # an index page
    for name in ("old", "new", "page"):
        (http / name).write_bytes(b"headers")
    wheel(tmp_path / "wheels" / "1" / "2" / "psycopg_c-3.3.9-cp311-cp311-linux_x86_64.whl", "psycopg_c-3.3.9")
    (tmp_path / "wheels" / "1" / "2" / "origin.json").write_text("{}")

    entries = scan("pip", tmp_path)
    assert sorted(e.label for e in entries) == ["django-filter 25.1", "django-filter 26.2", "psycopg-c 3.3.9"]
    pruning.remove(tmp_path, stale(entries, [{"django-filter": "26.2"}]))

    assert sorted(p.name for p in http.iterdir()) == ["new", "new.body", "page", "page.body"]
    assert not (tmp_path / "wheels").exists()  # the built wheel, its origin.json and the empty directories


def test_poetry_artifacts_are_named_by_their_file_names(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    for rel in ("1/a/numpy-2.4.5-cp311-cp311-manylinux_2_28_x86_64.whl", "2/b/python-crontab-3.4.0.tar.gz",
                "3/c/numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl"):  # fmt: skip
        (artifacts / rel).parent.mkdir(parents=True)
        (artifacts / rel).write_bytes(b"archive")
    (tmp_path / "cache" / "repositories" / "PyPI").mkdir(parents=True)

    entries = scan("poetry", tmp_path)
    assert sorted(e.label for e in entries) == ["numpy 2.4.5", "numpy 2.4.6", "python-crontab 3.4.0"]
    pruning.remove(tmp_path, stale(entries, [{"numpy": "2.4.6", "python-crontab": "3.4.0"}]))
    assert sorted(p.relative_to(artifacts).as_posix() for p in artifacts.rglob("*.*")) == [
        "2/b/python-crontab-3.4.0.tar.gz", "3/c/numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl"
    ]  # fmt: skip
    assert not (artifacts / "1").exists() and (tmp_path / "cache" / "repositories" / "PyPI").is_dir()


def cache_layer(layers: Path, installs: list[dict[str, str]]) -> Path:
    metadata = {"version": TOOL_VERSIONS["uv"], "stack": STACK.name, "arch": STACK.arch, "installs": installs}
    toml_io.dump({"types": {"build": True, "cache": True}, "metadata": metadata}, layers / "uv-cache.toml")
    return layers / "uv-cache"


def record(layers: Path, releases: dict[str, str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        caches.record_install(layer_context(layers), "uv", releases)
    return out.getvalue()


def test_each_install_is_recorded_and_what_the_last_two_did_not_use_is_pruned(tmp_path: Path) -> None:
    root = cache_layer(tmp_path, [{"numpy": "2.4.4"}, {"numpy": "2.4.3"}])
    uv_cache(root, {"numpy": ["2.4.3", "2.4.4", "2.4.5"]})

    log = record(tmp_path, {"NumPy": "2.4.5"})

    assert log == "   - Pruned cached uv downloads of numpy 2.4.3 (0.0 MB) since none of the last 2 installs used them\n"
    assert sorted(p.name[:5] for p in (root / "wheels-v8" / "pypi" / "numpy").iterdir() if p.is_symlink()) == [
        "2.4.4", "2.4.5"
    ]  # fmt: skip
    assert toml_io.load(tmp_path / "uv-cache.toml")["metadata"]["installs"] == [{"numpy": "2.4.5"}, {"numpy": "2.4.4"}]


def test_a_cache_that_is_not_the_layer_is_never_pruned(tmp_path: Path) -> None:
    own = tmp_path / "platform-cache"
    uv_cache(own, {"numpy": ["2.4.5"]})
    settings = {"UV_CACHE_DIR": str(own)}
    with contextlib.redirect_stdout(io.StringIO()):
        env: dict[str, str] = {}
        caches.install(layer_context(tmp_path, settings), env, "uv", "UV_CACHE_DIR", RUNTIME)
    assert record(tmp_path, {"numpy": "2.4.6"}) == ""
    assert (own / "wheels-v8" / "pypi" / "numpy" / f"2.4.5-{TAGS}").is_symlink()


def test_a_discarded_cache_forgets_the_installs_of_the_old_one(tmp_path: Path) -> None:
    toml_io.dump(
        {"metadata": {"version": "0.0.1", "stack": STACK.name, "arch": STACK.arch, "installs": [{"numpy": "1.0"}]}},
        tmp_path / "uv-cache.toml",
    )
    with contextlib.redirect_stdout(io.StringIO()) as out:
        caches.install(layer_context(tmp_path), {}, "uv", "UV_CACHE_DIR", RUNTIME)
    assert "Discarding cached uv downloads since the installer version changed" in out.getvalue()
    assert "releases" not in out.getvalue()  # the history is no reason of its own
    assert toml_io.load(tmp_path / "uv-cache.toml")["metadata"].get("installs", []) == []
