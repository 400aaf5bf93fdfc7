"""The packaged buildpack on build images with different python3s, or none.

Every test runs the artifact of `python -m python_buildpack_dev.package` (no .venv in it) through
the local lifecycle with a PATH that holds the host's tools, no Python but the one chosen, and
settings under which any package index or non-loopback host is unreachable. The runtime
mirror serves the test interpreter (the app's Python) and a local CPython 3.12 (what the
bootstrap fetches to run the buildpack when python3 cannot).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.artifact import NO_INDEX, NO_NETWORK, Artifact, image_path, local_interpreters, packaged_artifact
from support.builds import APPS, ARCH, PYTHON_MAJOR, PYTHON_VERSION

from python_buildpack.runtime.catalog import load_catalog
from python_buildpack.stacks.table import STACK_TO_UBUNTU, archive_name
from python_buildpack.tool_versions import TOOL_VERSIONS
from python_buildpack_dev.emulated.builder import Builder
from python_buildpack_dev.emulated.launcher import run_in_image
from python_buildpack_dev.package.targets import DEFAULT_PYTHONS
from python_buildpack_dev.platform.phases import BuildResult, ImageTarget
from python_buildpack_dev.platform.workspace import Workspace
from python_buildpack_dev.runtime_mirror.archives import file_sha256, make_runtime_archive
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import Faults, serve

pytestmark = pytest.mark.e2e

TEST_CACHE = Path.home() / ".cache" / "python-buildpack-tests"
INTERPRETERS = local_interpreters()
BOOTSTRAP_MAJOR = max(DEFAULT_PYTHONS)  # the newest vendored version the catalogue lists
UBUNTU = {stack: STACK_TO_UBUNTU[stack] for stack in ("scalingo-20", "scalingo-22")}
LAYER = "bootstrap-python"

if BOOTSTRAP_MAJOR not in INTERPRETERS:
    pytest.skip(f"needs a local CPython {BOOTSTRAP_MAJOR} to serve as the bootstrap runtime", allow_module_level=True)
BOOTSTRAP_PYTHON = INTERPRETERS[BOOTSTRAP_MAJOR]
BOOTSTRAP_VERSION = BOOTSTRAP_PYTHON.parts[-3]


@dataclass
class Mirror:
    directory: Path
    base_url: str
    faults: Faults
    pins: dict[str, str]

    def catalog(self, path: Path, *, pinned: bool = True, versions: dict[str, str] | None = None) -> Path:
        versions = versions or {PYTHON_MAJOR: PYTHON_VERSION, BOOTSTRAP_MAJOR: BOOTSTRAP_VERSION}
        return write_catalog(path, {stack: versions for stack in UBUNTU}, default=PYTHON_MAJOR,
                             artifacts=self.pins if pinned else None)

    def archive(self, version: str, stack: str = "scalingo-22") -> str:
        return archive_name(version, UBUNTU[stack], ARCH)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    return packaged_artifact(tmp_path_factory.getbasetemp() / "packaged")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    directory = tmp_path_factory.mktemp("bootstrap-mirror")
    pins = {}
    prefixes = {PYTHON_VERSION: Path(sys.base_prefix), BOOTSTRAP_VERSION: BOOTSTRAP_PYTHON.parents[1]}
    for version, prefix in prefixes.items():
        for ubuntu in UBUNTU.values():
            archive = make_runtime_archive(prefix, directory, version, ubuntu, ARCH,
                                           cache_dir=TEST_CACHE / "runtime-archives")
            pins[archive.name] = file_sha256(archive)
    faults = Faults()
    with serve(directory, faults) as base_url:
        yield Mirror(directory, base_url, faults, pins)


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """The pinned pip and a build backend, for app installs with no index (find-links only)."""
    directory = TEST_CACHE / "wheelhouse"
    wanted = [f"pip=={TOOL_VERSIONS['pip']}", "setuptools>=69"]
    base = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(directory)]
    offline = subprocess.run([*base, "--no-index", "--find-links", str(directory), *wanted], capture_output=True)
    if offline.returncode != 0:
        subprocess.run([*base, *wanted], check=True, capture_output=True)
    return directory


def build(artifact_dir: Path, tmp_path: Path, mirror: Mirror, python: str | None, app: Path, *,
          stack: str = "scalingo-22", settings: dict[str, str] | None = None, workspace: str = "ws") -> BuildResult:
    """One build of `app` with `python` (a major version, or None) as the image's python3."""
    interpreter = INTERPRETERS[python] if python else None
    path = image_path(tmp_path / f"path-{python or 'none'}", interpreter)
    env = {"BP_PYTHON_RUNTIME_BASE_URL": mirror.base_url,
           "BP_PYTHON_RUNTIME_CATALOG": str(mirror.catalog(tmp_path / "catalog.toml"))}
    builder = Builder(artifact_dir, Workspace(tmp_path / workspace), target=ImageTarget(distro_version=UBUNTU[stack], arch=ARCH),
                      platform_env=env | NO_INDEX | (settings or {}),
                      host_env={"PATH": path, "HOME": str(tmp_path / "home")} | NO_NETWORK)
    return builder.build(app)


def app_with(tmp_path: Path, files: dict[str, str]) -> Path:
    app = tmp_path / "app"
    shutil.rmtree(app, ignore_errors=True)
    app.mkdir()
    for name, content in files.items():
        (app / name).write_text(content)
    return app


def needs(python: str | None) -> None:
    if python is not None and python not in INTERPRETERS:
        pytest.skip(f"no local Python {python}")


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


# --- detect ----------------------------------------------------------------------------------

DETECTED = ("Pipfile", "requirements.txt", "poetry.lock", "uv.lock")  # the order detect names them in
LAYOUTS = {
    "requirements": {"requirements.txt": "flask\n"},
    "pipfile": {"Pipfile": ""},
    "poetry": {"poetry.lock": ""},
    "uv": {"uv.lock": ""},
    "several": {"uv.lock": "", "Pipfile": "", "requirements.txt": ""},
    "none": {"pyproject.toml": "[project]\nname = 'x'\n"},
    "none-setup": {"setup.cfg": "[metadata]\nname = x\n"},
}


def run_detect(bp: Path, app: Path, tmp_path: Path, python: Path | None) -> tuple[int, str, bytes | None]:
    plan = tmp_path / "plan.toml"
    plan.unlink(missing_ok=True)
    env = {"PATH": image_path(tmp_path / f"detect-path-{python.parts[-3] if python else 'none'}", python),
           "CNB_BUILD_PLAN_PATH": str(plan), "CNB_BUILDPACK_DIR": str(bp), "CNB_PLATFORM_DIR": str(tmp_path)}
    proc = subprocess.run([str(bp / "bin" / "detect")], cwd=app, env=env | NO_INDEX | NO_NETWORK,
                          capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr, plan.read_bytes() if plan.exists() else None


PLAN = b'[[provides]]\nname = "python"\n\n[[requires]]\nname = "python"\n'


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_packaged_detect_decides_each_layout(artifact: Artifact, tmp_path: Path, layout: str) -> None:
    app = app_with(tmp_path, LAYOUTS[layout])
    code, out, plan = run_detect(artifact.directory, app, tmp_path, None)
    if layout.startswith("none"):
        assert (code, plan) == (100, None), out
        assert out.startswith("No Python app detected: ")
    else:
        assert (code, plan) == (0, PLAN), out
        assert out == f"Python app detected ({', '.join(n for n in DETECTED if n in LAYOUTS[layout])})\n"


def test_detect_without_python_on_odd_entries(artifact: Artifact, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").mkdir()  # a directory is not a requirements file
    (app / "Pipfile").symlink_to("/nonexistent")  # nor a broken link
    (app / "uv.lock").symlink_to(tmp_path / "real.lock")
    (tmp_path / "real.lock").write_text("")
    code, out, plan = run_detect(artifact.directory, app, tmp_path, None)
    assert (code, out, plan) == (0, "Python app detected (uv.lock)\n", PLAN)


@pytest.mark.parametrize("python", ["3.6", "3.8", "3.10", "3.11", "3.12", "3.13", None])
def test_detect_runs_on_any_python3_or_none(artifact: Artifact, tmp_path: Path, python: str | None) -> None:
    needs(python)
    app = app_with(tmp_path, {"requirements.txt": ""})
    code, out, plan = run_detect(artifact.directory, app, tmp_path, INTERPRETERS[python] if python else None)
    assert code == 0, out
    assert out == "Python app detected (requirements.txt)\n"
    assert plan == PLAN


# --- build: which interpreter runs the buildpack ---------------------------------------------


@pytest.mark.parametrize(
    ("python", "stack"),
    [("3.8", "scalingo-20"), ("3.10", "scalingo-22"), ("3.11", "scalingo-22"), ("3.12", "scalingo-22"),
     ("3.13", "scalingo-22"), (None, "scalingo-22"), (None, "scalingo-20")],
)
def test_build_runs_the_buildpack_on_any_python3_or_none(
    artifact: Artifact, mirror: Mirror, tmp_path: Path, python: str | None, stack: str
) -> None:
    """The build gets as far as the app's mistake: the buildpack's code and dependencies load."""
    needs(python)
    app = app_with(tmp_path, {"requirements.txt": "", ".python-version": "3.99\n"})
    result = build(artifact.directory, tmp_path, mirror, python, app, stack=stack)
    out = result.output
    assert result.build is not None and result.build.exit_code == 1, out
    assert "! Error:" in out and "3.99" in out and "Traceback" not in out
    bootstrapped = python not in DEFAULT_PYTHONS
    assert ("## Buildpack runtime" in out) == bootstrapped, out
    if bootstrapped:
        reason = "No python3 on this image's PATH" if python is None else f"(Python {INTERPRETERS[python].parts[-3]})"
        assert reason in out
        assert f"Downloading Python {BOOTSTRAP_VERSION} to run the buildpack ({mirror.archive(BOOTSTRAP_VERSION, stack)})" in out
        layer = tmp_path / "ws" / "layers" / "scalingo_python" / LAYER
        assert (layer / "bin" / "python3").exists()


def test_bootstrap_interpreter_is_cached_and_follows_the_catalogue(
    artifact: Artifact, mirror: Mirror, wheelhouse: Path, tmp_path: Path
) -> None:
    app = app_with(tmp_path, {"requirements.txt": ""})
    unpinned = {"BP_PYTHON_RUNTIME_CATALOG": str(mirror.catalog(tmp_path / "unpinned.toml", pinned=False)),
                "PIP_FIND_LINKS": str(wheelhouse)}
    first = build(artifact.directory, tmp_path, mirror, None, app, settings=unpinned)
    assert first.ok, first.output
    assert f"Downloading Python {BOOTSTRAP_VERSION} to run the buildpack" in first.output
    again = build(artifact.directory, tmp_path, mirror, None, app, settings=unpinned)
    assert again.ok, again.output
    assert f"Using cached Python {BOOTSTRAP_VERSION} to run the buildpack" in again.output
    assert "Downloading" not in again.output
    # the catalogue now pins the archive: the cached interpreter is not known to be that file
    pinned = build(artifact.directory, tmp_path, mirror, None, app, settings={"PIP_FIND_LINKS": str(wheelhouse)})
    assert pinned.ok, pinned.output
    assert "Discarding the buildpack's cached interpreter since its source changed" in pinned.output
    assert f"Downloading Python {BOOTSTRAP_VERSION} to run the buildpack" in pinned.output


def test_bootstrap_reads_a_hand_written_catalogue(artifact: Artifact, mirror: Mirror, tmp_path: Path) -> None:
    pin = mirror.pins[mirror.archive(BOOTSTRAP_VERSION)]
    catalog = tmp_path / "hand.toml"
    catalog.write_text(
        "# private mirror\r\n"
        f"default = '{PYTHON_MAJOR}'\r\n\r\n"
        "[stacks.scalingo-20]  # another stack: ignored\r\n"
        f"'{PYTHON_MAJOR}' = '{PYTHON_VERSION}'\r\n"
        "'3.12' = '3.12.99'\r\n\r\n"
        "[ stacks.\"scalingo-22\" ]   # quoted, spaced\r\n"
        f"  \"{PYTHON_MAJOR}\" = \"{PYTHON_VERSION}\"\r\n"
        f"  '{BOOTSTRAP_MAJOR}'='{BOOTSTRAP_VERSION}'\r\n"
        "\r\n[[artifacts]]\r\n"
        f"sha256 = \"{pin.upper()}\"\r\n"
        f"file = \"{mirror.archive(BOOTSTRAP_VERSION)}\"\r\n"
    )
    load_catalog({"BP_PYTHON_RUNTIME_CATALOG": str(catalog)})  # valid for the build's own loader
    app = app_with(tmp_path, {"requirements.txt": "", ".python-version": "3.99\n"})
    result = build(artifact.directory, tmp_path, mirror, None, app,
                   settings={"BP_PYTHON_RUNTIME_CATALOG": str(catalog)})
    assert f"Downloading Python {BOOTSTRAP_VERSION} to run the buildpack" in result.output, result.output
    toml = (tmp_path / "ws" / "layers" / "scalingo_python" / f"{LAYER}.toml").read_text()
    assert f'sha256 = "{pin}"' in toml and "[types]\ncache = true\n" in toml


@pytest.mark.parametrize(
    ("case", "title"),
    [
        ("checksum", "Checksum mismatch for python-"),
        ("unreachable", f"Could not download Python {BOOTSTRAP_VERSION} to run the buildpack"),
        ("not-found", f"Could not download Python {BOOTSTRAP_VERSION} to run the buildpack"),
        ("no-vendored-version", "No Python to run the buildpack on scalingo-22"),
        ("bad-url", "Invalid BP_PYTHON_RUNTIME_BASE_URL: 'ftp://mirror.example'"),
        ("strict-unpinned", f"Python {BOOTSTRAP_VERSION} to run the buildpack is not pinned"),
    ],
)
def test_bootstrap_failures_are_clear_and_leave_nothing(
    artifact: Artifact, mirror: Mirror, tmp_path: Path, case: str, title: str
) -> None:
    settings: dict[str, str] = {}
    if case == "checksum":
        bad = dict(mirror.pins) | {mirror.archive(BOOTSTRAP_VERSION): "0" * 64}
        settings["BP_PYTHON_RUNTIME_CATALOG"] = str(write_catalog(
            tmp_path / "bad.toml", {stack: {BOOTSTRAP_MAJOR: BOOTSTRAP_VERSION} for stack in UBUNTU}, BOOTSTRAP_MAJOR, bad))
    elif case == "unreachable":
        settings["BP_PYTHON_RUNTIME_BASE_URL"] = "http://127.0.0.1:9"
    elif case == "not-found":
        settings["BP_PYTHON_RUNTIME_BASE_URL"] = mirror.base_url + "/elsewhere/"
    elif case == "no-vendored-version":
        settings["BP_PYTHON_RUNTIME_CATALOG"] = str(mirror.catalog(tmp_path / "old.toml", versions={"3.11": "3.11.7"}))
    elif case == "bad-url":
        settings["BP_PYTHON_RUNTIME_BASE_URL"] = "ftp://mirror.example"
    elif case == "strict-unpinned":
        unpinned = {k: v for k, v in mirror.pins.items() if k != mirror.archive(BOOTSTRAP_VERSION)}
        settings["BP_PYTHON_RUNTIME_CATALOG"] = str(write_catalog(
            tmp_path / "unpinned.toml", {stack: {BOOTSTRAP_MAJOR: BOOTSTRAP_VERSION} for stack in UBUNTU},
            BOOTSTRAP_MAJOR, unpinned))
        settings["BP_PYTHON_RUNTIME_REQUIRE_PIN"] = "true"
    result = build(artifact.directory, tmp_path, mirror, None, app_with(tmp_path, {"requirements.txt": ""}),
                   settings=settings)
    assert result.build is not None and result.build.exit_code == 1
    assert f"! Error: {title}" in result.output, result.output
    assert "Traceback" not in result.output and "## Stack" not in result.output
    layers = tmp_path / "ws" / "layers" / "scalingo_python"
    assert sorted(p.name for p in layers.iterdir()) == []


def test_transient_mirror_errors_are_retried(artifact: Artifact, mirror: Mirror, tmp_path: Path) -> None:
    path = "/" + mirror.archive(BOOTSTRAP_VERSION)
    mirror.faults.fail(path, 503, times=1)
    try:
        app = app_with(tmp_path, {"requirements.txt": "", ".python-version": "3.99\n"})
        result = build(artifact.directory, tmp_path, mirror, None, app)
    finally:
        mirror.faults.clear()
    assert f"Downloading Python {BOOTSTRAP_VERSION} to run the buildpack" in result.output
    assert "Could not download" not in result.output and "3.99" in result.output, result.output


# --- full builds from the unpacked .tgz, offline -----------------------------------------------


@pytest.mark.parametrize(("python", "stack"), [("3.10", "scalingo-22"), ("3.8", "scalingo-20"), (None, "scalingo-22")])
def test_full_build_from_the_unpacked_tgz_without_network(
    artifact: Artifact, mirror: Mirror, wheelhouse: Path, tmp_path: Path, python: str | None, stack: str
) -> None:
    needs(python)
    bp = artifact.unpack(tmp_path / "buildpack")
    assert not (bp / ".venv").exists()
    before = tree_digest(bp)
    app = APPS / "pip-local"
    settings = {"PIP_FIND_LINKS": str(wheelhouse)}
    first = build(bp, tmp_path, mirror, python, app, stack=stack, settings=settings)
    assert first.ok, first.output
    assert f"Installing pip {TOOL_VERSIONS['pip']}" in first.output
    bootstrapped = python not in DEFAULT_PYTHONS
    assert (f"Downloading Python {BOOTSTRAP_VERSION} to run the buildpack" in first.output) == bootstrapped
    ws = Workspace(tmp_path / "ws")
    hello = run_in_image(ws, ["localpkg-hello"])
    assert hello.returncode == 0 and hello.stdout.strip() == "hello from localpkg", hello.stderr
    # the interpreter of the buildpack is cached but never part of the image
    assert (ws.cache / LAYER).is_dir() == bootstrapped
    assert not (ws.image_layers / LAYER).exists()

    second = build(bp, tmp_path, mirror, python, app, stack=stack, settings=settings)
    assert second.ok, second.output
    assert "Using cached dependencies" in second.output
    assert (f"Using cached Python {BOOTSTRAP_VERSION} to run the buildpack" in second.output) == bootstrapped
    assert tree_digest(bp) == before  # nothing written into the buildpack dir
