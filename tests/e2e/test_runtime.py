"""The Python runtime end to end: version sources, the cached layer, faults of the mirror.

Each build runs the real bin/detect and bin/build through the local lifecycle, downloads the
runtime archive made from this interpreter over loopback, and checks the result at launch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from support.builds import ARCH, PYTHON_MAJOR, PYTHON_VERSION, AppBuild, RuntimeMirror

from python_buildpack.stacks.table import archive_name
from python_buildpack_dev.emulated.launcher import run_in_image
from python_buildpack_dev.platform.phases import ImageTarget
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import serve

pytestmark = pytest.mark.e2e

MakeApp = Callable[..., AppBuild]
ARCHIVE_22 = archive_name(PYTHON_VERSION, "22.04", ARCH)
ARCHIVE_24 = archive_name(PYTHON_VERSION, "24.04", ARCH)


def launch_python_version(app: AppBuild) -> str:
    proc = run_in_image(app.workspace, ["python", "--version"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def assert_clean_failure(output: str) -> None:
    assert "Traceback" not in output
    assert "! Error:" in output


@pytest.mark.parametrize(
    ("files", "log"),
    [
        ({".python-version": f"{PYTHON_MAJOR}\n"}, f"({PYTHON_MAJOR} from .python-version)"),
        ({".python-version": f"# pinned\n\n{PYTHON_VERSION}\n"}, f"({PYTHON_VERSION} from .python-version)"),
        ({"runtime.txt": f"python-{PYTHON_VERSION}\n"}, f"({PYTHON_VERSION} from runtime.txt)"),
        ({}, "(default; no Python version file found)"),
    ],
    ids=["major", "full-with-comment", "runtime.txt", "default"],
)
def test_version_sources(make_app: MakeApp, files: dict[str, str], log: str) -> None:
    app = make_app(files={"requirements.txt": "", **files})
    result = app.build()
    assert result.ok, result.output
    assert f"Using Python {PYTHON_VERSION} {log}" in result.output
    assert launch_python_version(app) == f"Python {PYTHON_VERSION}"
    if "runtime.txt" in files:
        assert "runtime.txt" in result.output and "deprecated" in result.output
        assert f"echo '{PYTHON_MAJOR}' > .python-version" in result.output or ".python-version" in result.output


def test_pipfile_lock_versions(make_app: MakeApp) -> None:
    lock = {"_meta": {"hash": {"sha256": "x"}, "requires": {"python_full_version": PYTHON_VERSION}}, "default": {}, "develop": {}}
    app = make_app(files={"requirements.txt": "", "Pipfile": "", "Pipfile.lock": json.dumps(lock)})
    from python_buildpack.runtime.version_files import read_requested_version

    requested, _ = read_requested_version(app.source, "3.13", pipenv=True)
    assert (requested.full, requested.source) == (PYTHON_VERSION, "Pipfile.lock")


def test_warm_rebuild_reuses_the_runtime_and_a_stack_change_discards_it(
    make_app: MakeApp, runtime_mirror: RuntimeMirror
) -> None:
    app = make_app(files={"requirements.txt": ""})
    assert app.build().ok
    before = runtime_mirror.faults.count(ARCHIVE_22)
    warm = app.build()
    assert warm.ok, warm.output
    assert f"Using cached Python {PYTHON_VERSION}" in warm.output
    assert runtime_mirror.faults.count(ARCHIVE_22) == before, "a warm rebuild downloaded the runtime again"

    app.target = ImageTarget(distro_version="24.04", arch=ARCH)
    moved = app.build()
    assert moved.ok, moved.output
    assert (
        f"Discarding cached Python {PYTHON_VERSION} since the stack changed from scalingo-22 to scalingo-24"
        in moved.output
    )
    assert launch_python_version(app) == f"Python {PYTHON_VERSION}"


def test_runtime_layer_has_no_stale_bytecode(make_app: MakeApp) -> None:
    """Exported mtimes are normalised: byte-code must be hash-based to stay valid."""
    app = make_app(files={"requirements.txt": ""})
    assert app.build().ok
    pyc = next((app.layers / "python" / "lib" / f"python{PYTHON_MAJOR}" / "__pycache__").glob("os.*.pyc"))
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags & 1, "os.pyc is timestamp-based"
    assert (app.layers / "python" / "bin" / "python").exists()
    # One pip in the image, the venv's: the runtime layer never gets one (no ensurepip).
    runtime_python = str(app.layers / "python" / "bin" / "python3")
    proc = run_in_image(app.workspace, [runtime_python, "-m", "pip", "--version"])
    assert proc.returncode != 0 and "No module named pip" in proc.stderr
    assert not list((app.layers / "python" / "lib" / f"python{PYTHON_MAJOR}" / "site-packages").glob("pip*"))
    proc = run_in_image(app.workspace, [str(app.layers / "venv" / "bin" / "pip"), "--version"])
    assert proc.returncode == 0, proc.stderr


def test_unknown_version_is_a_clear_error(make_app: MakeApp) -> None:
    app = make_app(files={"requirements.txt": "", ".python-version": "3.9\n"})
    result = app.build()
    assert not result.ok
    assert_clean_failure(result.output)
    assert ".python-version" in result.output and "3.9" in result.output


# --- faults of the runtime mirror: a clear error, and the cache intact for the next build ----


def build_then_fail_on_stack_24(app: AppBuild) -> str:
    assert app.build().ok
    app.target = ImageTarget(distro_version="24.04", arch=ARCH)
    failed = app.build()
    assert not failed.ok
    assert_clean_failure(failed.output)
    app.target = ImageTarget(distro_version="22.04", arch=ARCH)
    again = app.build()
    assert again.ok, again.output
    assert f"Using cached Python {PYTHON_VERSION}" in again.output
    assert launch_python_version(app) == f"Python {PYTHON_VERSION}"
    return failed.output


def test_missing_archive_404(make_app: MakeApp, runtime_mirror: RuntimeMirror) -> None:
    runtime_mirror.faults.fail(ARCHIVE_24, 404, times=None)
    try:
        out = build_then_fail_on_stack_24(make_app(files={"requirements.txt": ""}))
    finally:
        runtime_mirror.faults.clear()
    assert "404" in out and ARCHIVE_24 in out


def test_server_error_then_success_is_retried(make_app: MakeApp, runtime_mirror: RuntimeMirror) -> None:
    app = make_app(files={"requirements.txt": ""})
    runtime_mirror.faults.fail(ARCHIVE_22, 500, times=1)
    result = app.build()
    runtime_mirror.faults.clear()
    assert result.ok, result.output
    assert launch_python_version(app) == f"Python {PYTHON_VERSION}"


def test_connection_dropped_mid_body(make_app: MakeApp, runtime_mirror: RuntimeMirror) -> None:
    runtime_mirror.faults.drop(ARCHIVE_24, after=100_000, times=None)
    try:
        out = build_then_fail_on_stack_24(make_app(files={"requirements.txt": ""}))
    finally:
        runtime_mirror.faults.clear()
    assert "100000" in out.replace(",", "") or "dropped" in out


def mirror_with(tmp_path: Path, archive_bytes: bytes, sha256: str | None) -> tuple[Path, Path]:
    directory = tmp_path / "evil-mirror"
    directory.mkdir()
    (directory / ARCHIVE_24).write_bytes(archive_bytes)
    catalog = write_catalog(
        directory / "catalog.toml",
        {"scalingo-22": {PYTHON_MAJOR: PYTHON_VERSION}, "scalingo-24": {PYTHON_MAJOR: PYTHON_VERSION}},
        default=PYTHON_MAJOR,
        artifacts={ARCHIVE_24: sha256} if sha256 else None,
    )
    return directory, catalog


def build_from_bad_mirror(app: AppBuild, tmp_path: Path, archive_bytes: bytes, sha256: str | None) -> str:
    """Builds for scalingo-24 from a mirror serving `archive_bytes`; returns the failed build's log."""
    directory, catalog = mirror_with(tmp_path, archive_bytes, sha256)
    with serve(directory) as url:
        app.platform_env |= {"BP_PYTHON_RUNTIME_BASE_URL": url, "BP_PYTHON_RUNTIME_CATALOG": str(catalog)}
        app.target = ImageTarget(distro_version="24.04", arch=ARCH)
        failed = app.build()
    assert not failed.ok
    assert_clean_failure(failed.output)
    return failed.output


def test_wrong_checksum(make_app: MakeApp, runtime_mirror: RuntimeMirror, tmp_path: Path) -> None:
    app = make_app(files={"requirements.txt": ""})
    assert app.build().ok
    good_catalog = app.platform_env["BP_PYTHON_RUNTIME_CATALOG"]
    out = build_from_bad_mirror(app, tmp_path, runtime_mirror.archive("scalingo-24").read_bytes(), "0" * 64)
    assert "0" * 64 in out and "checksum" in out.lower()
    app.platform_env |= runtime_mirror.platform_env() | {"BP_PYTHON_RUNTIME_CATALOG": good_catalog}
    app.target = ImageTarget(distro_version="22.04", arch=ARCH)
    again = app.build()
    assert again.ok and f"Using cached Python {PYTHON_VERSION}" in again.output


def test_archive_with_path_traversal(make_app: MakeApp, tmp_path: Path) -> None:
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("bin/python3", b"#!/bin/sh\n"), ("../escaped", b"owned")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    evil = zstandard.ZstdCompressor().compress(raw.getvalue())
    app = make_app(files={"requirements.txt": ""})
    assert app.build().ok
    out = build_from_bad_mirror(app, tmp_path, evil, None)
    assert "../escaped" in out
    assert not (app.layers / "escaped").exists() and not (app.layers.parent / "escaped").exists()
    assert not (app.layers / "python").exists(), "a half-installed runtime was left in the layer"
