"""Real installs with real pip, pipenv, poetry and uv (issue 4), without the rest of the build.

Tests of one manager share a layers dir, so its tool layers are installed once per session;
each test starts with its own app, so its first install always builds a venv. Installer
downloads go through the session's shared cache (user settings, which pass through),
except in the test of the cache layers.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.builds import AppBuild
from support.deps import (
    PYTHON_HOME,
    DepsApp,
    Outcome,
    copy_app,
    distributions,
    make_git_package,
    pyc_flags,
    run_script,
    site_packages,
    snapshot,
    venv_python,
)

from python_buildpack.cnb import toml_io
from python_buildpack.tool_versions import TOOL_VERSIONS, Tool
from python_buildpack_dev.emulated.launcher import run_in_image

pytestmark = pytest.mark.e2e

FLASK = "import flask, importlib.metadata as m; print(m.version('flask'))"


@pytest.fixture(scope="session")
def layers_dirs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """One layers dir per package manager for the session: tool layers are reused across tests."""
    root = tmp_path_factory.mktemp("layers")

    def get(manager: str) -> Path:
        path = root / manager
        path.mkdir(exist_ok=True)
        return path

    return get


@pytest.fixture
def make(
    tmp_path: Path, layers_dirs: Callable[[str], Path], shared_download_cache: dict[str, str]
) -> Callable[[str, str], DepsApp]:
    def _make(fixture: str, manager: str) -> DepsApp:
        return DepsApp(copy_app(fixture, tmp_path / fixture), layers_dirs(manager), dict(shared_download_cache))

    return _make


def layer_types(layers: Path, name: str) -> dict[str, bool]:
    types: dict[str, bool] = toml_io.load(layers / f"{name}.toml")["types"]
    return types


def assert_reused(app: DepsApp, venv: Path, marker: Path) -> str:
    """A rebuild with nothing changed: no installer ran, the venv directory is untouched."""
    inode = venv.stat().st_ino
    outcome = app.install()
    assert outcome.ok() == venv
    assert "Using cached dependencies" in outcome.log
    assert "Installing dependencies" not in outcome.log
    assert marker.is_file(), "the venv was rebuilt"
    assert venv.stat().st_ino == inode
    return outcome.log


def test_pip_installs_into_an_isolated_venv_and_reuses_it(make: Callable[[str, str], DepsApp]) -> None:
    app = make("pip-flask", "pip")
    first = app.install()
    venv = first.ok()
    assert f"Package manager: pip {TOOL_VERSIONS['pip']} (requirements.txt)" in first.log
    assert f"Installing dependencies with pip {TOOL_VERSIONS['pip']}" in first.log
    assert "Successfully installed" in first.log  # pip's own output is streamed into the log

    # Exported mtimes are normalised: byte-code must be hash-based to stay valid. No pip in the
    # venv: it finds the pip layer's zip application while building (pip_seed.py).
    assert not (site_packages(venv) / "pip").exists()
    pycs = list(site_packages(venv).rglob("*.pyc"))
    assert pycs and {pyc_flags(p) for p in pycs} == {3}
    pyz = app.layers_dir / "pip" / f"pip-{TOOL_VERSIONS['pip']}.pyz"
    assert [p.name for p in (app.layers_dir / "pip").iterdir()] == [pyz.name]  # the layer is one file

    assert venv_python(venv, FLASK).stdout.strip() == "3.1.3"
    gunicorn = run_script(venv, "gunicorn", "--version")
    assert gunicorn.returncode == 0 and "23.0.0" in gunicorn.stdout + gunicorn.stderr
    # The app's packages, nothing from the runtime's site-packages.
    assert distributions(venv) == {
        "blinker", "click", "flask", "gunicorn", "itsdangerous", "jinja2", "markupsafe", "packaging", "werkzeug",
    }  # fmt: skip
    assert "pytest" not in venv_python(venv, "help('modules')").stdout
    pip = run_script(venv, "pip", "--version").stdout
    assert pip.startswith(f"pip {TOOL_VERSIONS['pip']} from {pyz}/pip"), pip
    assert f"pip=={TOOL_VERSIONS['pip']}" in run_script(venv, "pip", "freeze", "--all").stdout.split()

    # Layer contract: the venv is a launch layer (its packed copy is cached), tools are build-only.
    assert layer_types(app.layers_dir, "venv") == {"launch": True, "build": False, "cache": False}
    assert layer_types(app.layers_dir, "pip") == {"launch": False, "build": True, "cache": True}
    assert (venv / "env" / "VIRTUAL_ENV.override").read_text() == str(venv)
    assert (venv / "bin" / "python").resolve().is_relative_to(PYTHON_HOME.resolve())
    assert f"home = {PYTHON_HOME / 'bin'}" in (venv / "pyvenv.cfg").read_text()

    # Nothing points to a build-only layer (the tool and cache layers are not in the image), but
    # for the pip layer's line in the `.pth`, which the interpreter skips where that path is absent.
    build_only = [str(app.layers_dir / name) for name in ("pip", "pip-cache")]
    for path in venv.rglob("*"):
        if path.is_symlink():
            assert not str(path.resolve()).startswith(tuple(build_only)), path
        elif path.name == "pip-outside-venv.pth":
            assert path.read_text().splitlines()[0] == str(pyz)
        elif path.is_file():
            data = path.read_bytes()
            assert not any(b.encode() in data for b in build_only), path

    marker = venv / "marker"
    marker.write_text("from the first build")
    second = assert_reused(app, venv, marker)
    assert "Using cached dependencies (requirements.txt unchanged)" in second


def test_changes_update_exactly_and_identical_inputs_give_an_identical_venv(
    make: Callable[[str, str], DepsApp],
) -> None:
    app = make("pip-flask", "pip")
    original = (app.app_dir / "requirements.txt").read_text()
    venv = app.install().ok()
    first = snapshot(venv)
    assert "flask" in distributions(venv)

    app.write("requirements.txt", "gunicorn==22.0.0\n")
    # A user's setting that pip only runs in a venv: the target set is resolved outside the venv
    # (by the runtime's interpreter, while the venv unpacks), which installs nothing.
    changed = app.install(PIP_REQUIRE_VIRTUALENV="true")
    assert changed.ok() == venv
    assert "Updating cached dependencies since requirements.txt changed" in changed.log
    # The update runs the cached pip layer's zip application: nothing fetched, unpacked or compiled.
    assert f"Using cached pip {TOOL_VERSIONS['pip']}" in changed.log
    assert "Installing pip" not in changed.log
    assert "Removing blinker, click, flask, itsdangerous, jinja2, markupsafe, werkzeug (no longer required)" in changed.log
    assert "rebuilding" not in changed.log.lower()
    assert distributions(venv) == {"gunicorn", "packaging"}  # flask and its dependencies are gone
    assert venv_python(venv, "import flask").returncode != 0
    assert "22.0.0" in run_script(venv, "gunicorn", "--version").stdout

    app.write("requirements.txt", original)
    again = app.install()
    assert "Updating cached dependencies since requirements.txt changed" in again.log
    assert snapshot(again.ok()) == first  # byte for byte: an update gives what a fresh install gives


def test_update_with_a_direct_reference_rebuilds_from_scratch(make: Callable[[str, str], DepsApp]) -> None:
    app = make("pip-flask", "pip")
    venv = app.install().ok()
    (app.app_dir / "localpkg").mkdir()
    app.write("localpkg/pyproject.toml", '[project]\nname = "localpkg"\nversion = "1.0"\n')
    app.write("localpkg/localpkg.py", "")
    app.write("requirements.txt", "gunicorn==23.0.0\n./localpkg\n")
    outcome = app.install()
    assert outcome.ok() == venv
    assert "Rebuilding from scratch: direct references (./localpkg) are not compared by version" in outcome.log
    assert distributions(venv) == {"gunicorn", "localpkg", "packaging"}


def test_failed_installs_explain_and_keep_the_previous_venv(make: Callable[[str, str], DepsApp]) -> None:
    app = make("pip-flask", "pip")
    venv = app.install().ok()
    marker = venv / "marker"
    marker.write_text("previous")
    toml_before = (app.layers_dir / "venv.toml").read_bytes()
    original = (app.app_dir / "requirements.txt").read_text()

    def fails(requirements: str, **settings: str) -> Outcome:
        app.write("requirements.txt", requirements)
        outcome = app.install(**settings)
        assert outcome.error is not None, outcome.log
        assert "Traceback" not in outcome.log
        assert outcome.error.output == ""  # pip's output was streamed: the error does not repeat it
        # The previous venv and its metadata are back, as if the failed build never ran.
        assert marker.is_file()
        assert (app.layers_dir / "venv.toml").read_bytes() == toml_before
        return outcome

    missing_outcome = fails(original + "surely-not-a-real-package-name-4242==1.0\n")
    assert (missing := missing_outcome.error) is not None
    assert missing.title == "No matching distribution found for surely-not-a-real-package-name-4242==1.0"
    assert "Check its name and version in requirements.txt" in missing.details
    assert missing_outcome.log.count("ERROR: No matching distribution found") == 1

    invalid = fails("flask = 3.1\n").error
    assert invalid is not None and invalid.title == "Invalid line in requirements.txt"
    assert "flask = 3.1" in invalid.details

    # User settings pass through to pip: here a private index that is down, and no config files.
    dead_index = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": "/dev/null", "PIP_RETRIES": "1"}
    network_outcome = fails("flask==3.1.3\nblinker==1.9.0\n", **dead_index)
    assert (network := network_outcome.error) is not None
    assert network.title == "pip could not reach the package index"
    assert "PIP_INDEX_URL" in network.details
    assert "127.0.0.1" in network_outcome.log

    app.write("requirements.txt", original)
    assert_reused(app, venv, marker)


def test_editable_and_git_dependencies(make: Callable[[str, str], DepsApp], tmp_path: Path) -> None:
    app = make("pip-local", "pip")
    requirement = make_git_package(tmp_path / "gitpkg")
    app.write("requirements.txt", (app.app_dir / "requirements.txt").read_text() + requirement + "\n")
    venv = app.install().ok()
    imported = venv_python(venv, "import gitpkg, localpkg; print(gitpkg.VALUE, localpkg.__file__)")
    assert imported.stdout.split() == ["42", str(app.app_dir / "localpkg" / "localpkg" / "__init__.py")]
    assert run_script(venv, "localpkg-hello").stdout.strip() == "hello from localpkg"

    # Editable: code changes are live without a reinstall; its build files rebuild the venv.
    marker = venv / "marker"
    marker.write_text("")
    app.edit("localpkg/localpkg/__init__.py", "hello from localpkg", "hello again")
    assert_reused(app, venv, marker)
    assert run_script(venv, "localpkg-hello").stdout.strip() == "hello again"
    app.edit("localpkg/pyproject.toml", 'version = "0.1.0"', 'version = "0.2.0"')
    outcome = app.install()
    assert "Updating cached dependencies since localpkg/pyproject.toml changed" in outcome.log
    assert "Rebuilding from scratch: direct references (" in outcome.log, outcome.log
    assert "localpkg" in distributions(outcome.ok())




@pytest.mark.parametrize(
    ("fixture", "manager", "console_script"),
    [
        ("pipenv-basic", "pipenv", ("gunicorn", "--version")),
        ("poetry-basic", "poetry", ("poetry-basic-hello",)),
        ("uv-basic", "uv", ("gunicorn", "--version")),
    ],
)
def test_lock_based_install_reuse_and_out_of_sync_lock(
    make: Callable[[str, str], DepsApp], fixture: str, manager: Tool, console_script: tuple[str, ...]
) -> None:
    app = make(fixture, manager)
    first = app.install()
    venv = first.ok()
    assert f"Installing dependencies with {manager} {TOOL_VERSIONS[manager]}" in first.log
    assert venv_python(venv, FLASK).stdout.strip() == "3.1.3"
    assert run_script(venv, *console_script).returncode == 0
    installed = distributions(venv)
    assert "pytest" not in installed, "dev dependencies must not be installed"
    assert {"flask", "gunicorn"} <= installed and "pip" not in installed
    pycs = list((site_packages(venv) / "flask").rglob("*.pyc"))
    assert pycs and {pyc_flags(p) for p in pycs} == {3}
    assert layer_types(app.layers_dir, manager) == {"launch": False, "build": True, "cache": False}

    marker = venv / "marker"
    marker.write_text("")
    assert_reused(app, venv, marker)

    # The project file gains a dependency the lock does not have.
    lock = {"pipenv": "Pipfile.lock", "poetry": "poetry.lock", "uv": "uv.lock"}[manager]
    if manager == "pipenv":
        app.edit("Pipfile", "[packages]\n", '[packages]\nblinker = "*"\nsix = "*"\n')
    else:
        app.edit("pyproject.toml", '"flask', '"six", "flask')
    failed = app.install()
    assert failed.error is not None, failed.log
    assert failed.error.title == f"{lock} is out of date"
    assert f"`{manager} lock`" in failed.error.details
    assert failed.error.output == ""  # the installer's output is in the log, not repeated
    assert "[DeployException]" not in failed.log  # pipenv's traceback is hidden
    assert marker.is_file()

    # Back to the committed files: the previous venv is still there and reused.
    shutil.rmtree(app.app_dir)
    copy_app(fixture, app.app_dir)
    assert_reused(app, venv, marker)


def test_download_cache_layers(tmp_path: Path) -> None:
    app = DepsApp(copy_app("uv-basic", tmp_path / "app"), tmp_path / "layers")  # no shared cache
    app.layers_dir.mkdir()
    first = app.install()
    venv = first.ok()
    cache = app.layers_dir / "uv-cache"
    assert layer_types(app.layers_dir, "uv-cache") == {"launch": False, "build": True, "cache": True}
    assert any(cache.iterdir()), "uv downloads into its cache layer"
    assert not (app.layers_dir / "pip-cache").exists()  # tools are cached as layers, not as downloads
    # uv's own pruning for CI caches: the unzipped pre-built wheels (what the restorer would write
    # back file by file at every build) are gone; a handful of uv's own files stay.
    assert re.search(r"- Pruned cached uv downloads \(\d+ files, [\d.]+\w+; `uv cache prune --ci`\)", first.log)
    assert not list(cache.glob("archive-v0/*")), "no unzipped wheel is left"
    assert len([p for p in cache.rglob("*") if p.is_file()]) < 10

    # A fresh install (the venv lost, its cache kept) uses the cache layer and downloads the wheels.
    # (A changed uv.toml would update the venv in place, installing nothing.)
    shutil.rmtree(venv)
    (app.layers_dir / "venv.toml").unlink()
    again = app.install()
    assert again.ok() == venv
    assert f"Installing dependencies with uv {TOOL_VERSIONS['uv']}" in again.log
    assert "Using cached uv downloads" in again.log
    assert venv_python(venv, FLASK).stdout.strip() == "3.1.3"

    # A user's UV_CACHE_DIR wins: uv uses that directory and the layer goes.
    own = tmp_path / "own-cache"
    app.write("uv.toml", "# changed\n")
    outcome = app.install(UV_CACHE_DIR=str(own))
    outcome.ok()
    assert f"Download cache: {own} (UV_CACHE_DIR from the app's environment)" in outcome.log
    assert not cache.exists() and not (app.layers_dir / "uv-cache.toml").exists()
    assert any(own.iterdir())




def test_uv_as_the_installer_of_a_requirements_app(make: Callable[[str, str], DepsApp]) -> None:
    app = make("pip-flask", "uv-installer")
    # uv trusts its own root certificates unless told otherwise: this machine's index may sit
    # behind a proxy whose CA only the system store has.
    app.settings["UV_SYSTEM_CERTS"] = "1"
    outcome = app.install(BP_PYTHON_INSTALLER="uv")
    venv = outcome.ok()
    assert "Installing requirements.txt with uv instead of pip (BP_PYTHON_INSTALLER=uv)" in outcome.log
    assert f"Installing dependencies with uv {TOOL_VERSIONS['uv']}" in outcome.log
    # The same venv layout as with pip: the app's packages, hash-based byte-code, no pip (`pip`
    # runs the runtime's bundled wheel: no pip layer with the uv installer).
    assert distributions(venv) == {
        "blinker", "click", "flask", "gunicorn", "itsdangerous", "jinja2", "markupsafe", "packaging", "werkzeug",
    }  # fmt: skip
    assert {pyc_flags(p) for p in site_packages(venv).rglob("*.pyc")} == {3}
    assert "/ensurepip/_bundled/pip-" in run_script(venv, "pip", "--version").stdout

    assert "Using cached dependencies" in app.install(BP_PYTHON_INSTALLER="uv").log
    # The installer is part of the reuse key.
    back = app.install()
    back.ok()
    assert "Discarding cached dependencies since the package manager changed from uv to pip" in back.log
    assert not (app.layers_dir / "uv").exists()

    invalid = app.install(BP_PYTHON_INSTALLER="poetry").error
    assert invalid is not None and invalid.title == "Invalid BP_PYTHON_INSTALLER: 'poetry'"




def test_other_python_versions(tmp_path: Path, shared_download_cache: dict[str, str]) -> None:
    """The pinned tools install and run on another Python; a Pipfile's python_version is enforced."""
    home = other_python("3.13")
    if home is None:
        pytest.skip("no local Python 3.13")
    version = home.name
    layers = tmp_path / "layers"
    layers.mkdir()

    def app(fixture: str) -> DepsApp:
        return DepsApp(copy_app(fixture, tmp_path / fixture), layers, dict(shared_download_cache), home, version)

    venv = app("uv-basic").install().ok()
    assert venv_python(venv, "import flask, sys; print(sys.version.split()[0])").stdout.strip() == version

    pipenv = app("pipenv-basic").install()  # its Pipfile requires python_version 3.11
    assert pipenv.error is not None
    assert pipenv.error.title == "The Pipfile requires Python 3.11"
    assert 'Your Pipfile requires "python_version" 3.11' in pipenv.log


def test_redeploys_through_the_lifecycle(make_app: Callable[..., AppBuild]) -> None:
    """Real restore and export: a failed build leaves the cache as it was; the image has no tool layers."""
    app = make_app("pip-flask")
    first = app.build()
    assert first.ok, first.output
    image_layers = sorted(p.name for p in app.workspace.image_layers.iterdir() if p.is_dir())
    assert "venv" in image_layers and not {"pip", "pip-cache"} & set(image_layers)
    gunicorn = run_in_image(app.workspace, ["gunicorn", "--version"])
    assert gunicorn.returncode == 0 and "23.0.0" in gunicorn.stdout + gunicorn.stderr
    pip = run_in_image(app.workspace, ["pip", "--version"])  # no pip layer in the image: the runtime's
    assert re.match(rf"pip \S+ from {re.escape(str(app.layers / 'python'))}/lib/python3\.\d+/ensurepip/", pip.stdout)

    requirements = app.source / "requirements.txt"
    original = requirements.read_text()
    requirements.write_text(original + "surely-not-a-real-package-name-4242==1.0\n")
    failed = app.build()
    assert not failed.ok
    assert "No matching distribution found for surely-not-a-real-package-name-4242" in failed.output

    requirements.write_text(original)
    warm = app.build()
    assert warm.ok, warm.output
    assert "Using cached dependencies (requirements.txt unchanged)" in warm.output
    assert "Installing dependencies with" not in warm.output


def other_python(major: str) -> Path | None:
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(p for p in versions.glob(f"{major}.*") if (p / "bin" / "python3").exists())
    return found[-1] if found else None
