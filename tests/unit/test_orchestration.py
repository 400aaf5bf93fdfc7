"""The build's orchestration with a recording runner: which layers are kept, which commands run
in which order, and what the log says, in milliseconds. Real installers are in tests/e2e.

The golden sections (tests/unit/golden/) pin the whole `## Installing dependencies` section of
each package manager, cold and warm, as the fake runner drives it; `UPDATE_GOLDEN=1` rewrites
them after an intended change of the log.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest
from support.deps import STACK, DepsApp, copy_app
from support.fake_runner import FakeRunner
from support.golden import assert_golden, normalise

from python_buildpack import build
from python_buildpack.cnb import toml_io
from python_buildpack.cnb.context import BuildContext, CnbTarget
from python_buildpack.errors import BuildError
from python_buildpack.tool_versions import TOOL_VERSIONS

GOLDEN = Path(__file__).parent / "golden"
VERSION = "3.12.1"
# The app's dependency files, as the fixtures have them; the runtime is a stand-in prefix.
APPS = {"pip": "pip-flask", "pipenv": "pipenv-basic", "poetry": "poetry-basic", "uv": "uv-basic"}
# What each manager runs on a cold build: tool layers, then the venv and its install.
COLD = {
    "pip": ["pip download pip", "compile", "venv venv", "pip install -r requirements.txt", "compile"],
    "pipenv": ["pip download pip", "compile", "venv venv", "pip install pipenv", "compile", "venv venv", "pipenv install"],
    "poetry": ["pip download pip", "compile", "venv venv", "pip install poetry", "compile", "venv venv", "poetry sync"],
    "uv": ["pip download pip", "compile", "venv venv", "pip install uv", "compile", "venv venv", "uv sync", "compile", "uv cache"],
}


def fake_runtime(root: Path) -> Path:
    """A runtime prefix with what the tool layers look for: python3 and ensurepip's pip wheel."""
    home = root / "python"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "python3").write_text("#!/bin/sh\n")
    bundled = home / "lib" / "python3.12" / "ensurepip" / "_bundled"
    bundled.mkdir(parents=True)
    (bundled / "pip-24.0-py3-none-any.whl").write_bytes(b"")
    return home


def deps_app(tmp_path: Path, manager: str) -> DepsApp:
    app = copy_app(APPS[manager], tmp_path / "app")
    (tmp_path / "layers").mkdir()
    return DepsApp(app, tmp_path / "layers", python_home=fake_runtime(tmp_path), python_version=VERSION)


def dependencies_section(log: str, tmp_path: Path) -> str:
    return normalise("## Installing dependencies\n" + log, known={str(tmp_path): "<tmp>"})


@pytest.mark.parametrize("manager", list(APPS))
def test_cold_then_warm(tmp_path: Path, manager: str) -> None:
    app = deps_app(tmp_path, manager)
    cold = FakeRunner()
    first = app.install(runner=cold)
    first.ok()
    assert cold.commands == COLD[manager]
    assert_golden(dependencies_section(first.log, tmp_path), f"{manager}-cold", GOLDEN)
    for name in {"pip", manager}:  # build-only; pip's one file cached, the others' packed copies when a plan keeps them
        types = toml_io.load(app.layers_dir / f"{name}.toml")["types"]
        assert types == {"build": True, "launch": False, "cache": name == "pip"}

    warm = FakeRunner()
    second = app.install(runner=warm)
    second.ok()
    assert warm.commands == []  # a reused venv runs no installer at all
    assert_golden(dependencies_section(second.log, tmp_path), f"{manager}-warm", GOLDEN)
    assert toml_io.load(app.layers_dir / "venv.toml")["types"] == {"build": False, "launch": True, "cache": False}


def test_installers_run_in_the_venv_with_the_user_settings(tmp_path: Path) -> None:
    app = deps_app(tmp_path, "poetry")
    runner = FakeRunner()
    app.install(runner=runner, POETRY_HTTP_TIMEOUT="60", PIP_TARGET="/elsewhere").ok()
    env = runner.environments[runner.commands.index("poetry sync")]
    venv = app.layers_dir / "venv"
    assert env["VIRTUAL_ENV"] == str(venv) and env["PATH"].startswith(f"{venv / 'bin'}:")
    assert env["POETRY_HTTP_TIMEOUT"] == "60" and env["POETRY_VIRTUALENVS_CREATE"] == "false"
    assert env["POETRY_CACHE_DIR"] == str(app.layers_dir / "poetry-cache")
    assert env["PIP_REQUIRE_VIRTUALENV"] == "1"  # from the venv layer's env files, as at launch
    assert "PIP_TARGET" not in env


def test_a_changed_lock_rebuilds_and_a_failed_rebuild_keeps_the_previous_venv(tmp_path: Path) -> None:
    app = deps_app(tmp_path, "poetry")
    app.install(runner=FakeRunner()).ok()
    venv_toml = (app.layers_dir / "venv.toml").read_bytes()
    (app.layers_dir / "venv" / "marker").write_text("first build")

    app.write("poetry.lock", (app.app_dir / "poetry.lock").read_text() + "\n# changed\n")
    refusal = "pyproject.toml changed significantly since poetry.lock was last generated. Run `poetry lock`."
    failing = FakeRunner(failing={"poetry sync": [refusal]})
    outcome = app.install(runner=failing)
    assert outcome.error is not None and outcome.error.title == "poetry.lock is out of date"
    assert failing.commands == ["venv venv", "poetry sync"]  # the tools were reused
    assert "- Discarding cached dependencies since poetry.lock changed" in outcome.log
    assert "Using cached poetry" in outcome.log and refusal in outcome.log
    assert (app.layers_dir / "venv" / "marker").read_text() == "first build"
    assert (app.layers_dir / "venv.toml").read_bytes() == venv_toml
    assert not (app.layers_dir / ".venv-previous").exists()


def test_a_new_pin_discards_the_tool_layer_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = deps_app(tmp_path, "uv")
    app.install(runner=FakeRunner()).ok()
    old = TOOL_VERSIONS["uv"]
    monkeypatch.setitem(TOOL_VERSIONS, "uv", "99.0.0")
    runner = FakeRunner()
    log = app.install(runner=runner).log
    assert f"- Discarding cached uv {old} since the pinned version changed from {old} to 99.0.0" in log
    assert f"- Discarding cached uv downloads since the installer version changed from {old} to 99.0.0" in log
    assert f"- Discarding cached dependencies since the package manager version changed from {old}" in log
    assert "- Using cached pip" in log
    assert runner.commands == ["venv venv", "pip install uv", "compile", "venv venv", "uv sync", "compile", "uv cache"]


def test_switching_manager_drops_the_old_tool_layers(tmp_path: Path) -> None:
    app = deps_app(tmp_path, "uv")
    app.install(runner=FakeRunner()).ok()
    assert (app.layers_dir / "uv.toml").is_file() and (app.layers_dir / "uv-cache.toml").is_file()
    shutil.rmtree(app.app_dir)
    copy_app("pip-flask", app.app_dir)
    runner = FakeRunner()
    outcome = app.install(runner=runner)
    outcome.ok()
    assert "- Discarding cached dependencies since the package manager changed from uv to pip" in outcome.log
    assert "- Removing cached uv (this build does not use it)" in outcome.log
    assert "- Removing cached uv downloads (this build does not use uv)" in outcome.log
    assert not (app.layers_dir / "uv").exists() and not (app.layers_dir / "uv.toml").exists()
    assert runner.commands == ["venv venv", "pip install -r requirements.txt", "compile"]  # pip was cached


def test_several_files_the_first_complete_entry_wins_and_the_log_names_it(tmp_path: Path) -> None:
    app = deps_app(tmp_path, "uv")
    app.write("requirements.txt", "blinker==1.9.0\n")
    runner = FakeRunner()
    outcome = app.install(runner=runner)
    outcome.ok()
    assert "Package manager: pip" in outcome.log
    assert "Ignoring uv.lock, pyproject.toml: using requirements.txt" in outcome.log
    assert "requirements.txt (pip), poetry.lock (poetry), uv.lock (uv)" in outcome.log.replace("\n   ! ", " ")
    assert runner.commands[-2:] == ["pip install -r requirements.txt", "compile"]


def test_the_uv_installer_setting_is_ignored_for_lock_based_apps(tmp_path: Path) -> None:
    runner = FakeRunner()
    outcome = deps_app(tmp_path, "uv").install(runner=runner, BP_PYTHON_INSTALLER="uv")
    outcome.ok()
    assert "Ignoring BP_PYTHON_INSTALLER=uv" in outcome.log
    assert runner.commands[-3:] == ["uv sync", "compile", "uv cache"]


def build_context(tmp_path: Path, app: Path) -> BuildContext:
    target = CnbTarget(os="linux", arch=STACK.arch, distro_name="ubuntu", distro_version=STACK.ubuntu_version)
    # Nothing listens there: a download would fail with another error, after retries.
    env = {"BP_PYTHON_RUNTIME_BASE_URL": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    return BuildContext(app, tmp_path / "bp", None, target, "", env, tmp_path / "layers", tmp_path / "plan.toml")


@pytest.mark.parametrize(
    ("files", "title"),
    [
        ({"Pipfile": "[packages]\n"}, "Pipfile found without Pipfile.lock"),
        ({"Pipfile": "[packages\n", "Pipfile.lock": "{}"}, "Pipfile is not valid TOML"),
        ({"requirements.txt": "", ".python-version": "2.7\n"}, "Python 2.7"),
        ({"requirements.txt": "", "nltk.txt": "../etc\n"}, "Invalid NLTK package id in nltk.txt: '../etc'"),
    ],
)
def test_the_app_is_analysed_before_any_download(tmp_path: Path, files: dict[str, str], title: str) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (tmp_path / "layers").mkdir()
    for name, content in files.items():
        (app / name).write_text(content)
    runner = FakeRunner()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(BuildError) as raised:
        build.run(build_context(tmp_path, app), runner)
    assert title in raised.value.title
    assert runner.commands == [] and list((tmp_path / "layers").iterdir()) == []
    assert "## Installing Python" not in out.getvalue()


def test_a_dead_byte_code_compile_fails_the_build_and_keeps_the_previous_venv(tmp_path: Path) -> None:
    app = deps_app(tmp_path, "pip")
    app.install(runner=FakeRunner()).ok()
    venv_toml = (app.layers_dir / "venv.toml").read_bytes()
    (app.layers_dir / "venv" / "marker").write_text("first build")

    # A setting in the venv's key: the venv is rebuilt, and its compile's worker dies (status 3).
    dead = FakeRunner(failing={"compile": ["worker died"]}, failing_status=3)
    outcome = app.install(runner=dead, BP_PYTHON_INSTALL_DEV_DEPENDENCIES="true")
    assert dead.commands == ["venv venv", "pip install -r requirements.txt", "compile"]
    assert outcome.error is not None and outcome.error.title == "Could not compile the dependencies' byte-code"
    assert "exit status 3" in outcome.error.details and "Traceback" not in outcome.log
    assert (app.layers_dir / "venv" / "marker").read_text() == "first build"
    assert (app.layers_dir / "venv.toml").read_bytes() == venv_toml
    assert not (app.layers_dir / ".venv-previous").exists()

    # Status 1, a module that does not compile (pip ignores those too), is no error.
    skipped = FakeRunner(failing={"compile": ["Could not compile bad.py: invalid syntax"]})
    app.install(runner=skipped, BP_PYTHON_INSTALL_DEV_DEPENDENCIES="true").ok()
    assert skipped.commands[-1] == "compile"


def installed_app(tmp_path: Path, manager: str) -> DepsApp:
    """An app installed by uv (`pip`: a requirements.txt app, BP_PYTHON_INSTALLER=uv) whose venv
    has flask and six, and a file that only an update in place keeps."""
    app = deps_app(tmp_path, manager)
    if manager == "pip":
        app.settings["BP_PYTHON_INSTALLER"] = "uv"
    app.install(runner=FakeRunner(installs={"flask": "3.1.3", "six": "1.17.0"})).ok()
    (app.layers_dir / "venv" / "marker").write_text("previous venv")
    return app


def kept_previous_venv(app: DepsApp, toml: bytes) -> bool:
    return (app.layers_dir / "venv" / "marker").is_file() and (app.layers_dir / "venv.toml").read_bytes() == toml


@pytest.mark.parametrize(
    ("manager", "change", "commands"),
    [
        ("pip", "requirements.txt", ["uv pip compile", "uv pip uninstall", "uv pip install -r requirements.txt --constraints", "compile", "uv cache"]),
        ("uv", "uv.lock", ["uv export", "uv sync", "compile", "uv cache"]),
    ],
    ids=["uv-installer", "uv"],
)
def test_uv_updates_the_venv_in_place(tmp_path: Path, manager: str, change: str, commands: list[str]) -> None:
    app = installed_app(tmp_path, manager)
    app.write(change, (app.app_dir / change).read_text() + "\n# changed\n")
    runner = FakeRunner(installs={"flask": "3.1.2"})
    outcome = app.install(runner=runner)
    outcome.ok()
    assert runner.commands == commands
    assert (app.layers_dir / "venv" / "marker").is_file()  # updated, not rebuilt
    assert_golden(dependencies_section(outcome.log, tmp_path), f"{manager.replace('pip', 'uv-installer')}-update", GOLDEN)
    # The download cache records the updated venv's releases, for pruning.
    releases = toml_io.load(app.layers_dir / "uv-cache.toml")["metadata"]["installs"][0]
    assert releases["flask"] == "3.1.2" and "six" not in releases


@pytest.mark.parametrize(
    ("manager", "change", "output", "title"),
    [
        ("pip", "requirements.txt", "No solution found when resolving dependencies", "uv could not install"),
        ("uv", "uv.lock", "The lockfile at `uv.lock` needs to be updated, but `--locked` was provided.", "uv.lock is out of date"),
    ],
    ids=["uv-installer", "uv"],
)
def test_a_failed_uv_resolution_lets_the_install_say_why(
    tmp_path: Path, manager: str, change: str, output: str, title: str
) -> None:
    app = installed_app(tmp_path, manager)
    toml = (app.layers_dir / "venv.toml").read_bytes()
    app.write(change, (app.app_dir / change).read_text() + "\n# changed\n")
    install = {"pip": "uv pip install", "uv": "uv sync"}[manager]
    failing = FakeRunner(failing={"uv pip compile": [output], "uv export": [output], install: [output]})
    outcome = app.install(runner=failing)
    assert outcome.error is not None and outcome.error.title.startswith(title), outcome.log
    assert failing.commands[1:] == [f"{install} -r requirements.txt" if manager == "pip" else install]
    assert outcome.log.count(output) == 1 and "Rebuilding" not in outcome.log
    assert kept_previous_venv(app, toml)

    # The resolution fails but the install works: the venv is rebuilt from scratch.
    resolving = FakeRunner(failing={"uv pip compile": [output], "uv export": [output]})
    rebuilt = app.install(runner=resolving)
    rebuilt.ok()
    assert "- Rebuilding from scratch: resolving the target set failed (" in rebuilt.log
    assert "venv venv" in resolving.commands and not (app.layers_dir / "venv" / "marker").exists()


@pytest.mark.parametrize(
    ("requirements", "runner", "said", "update"),
    [
        (
            "flask>=3\n",
            FakeRunner(installs={"flask": "3.1.3"}, resolved={"flask": "3.1.2"}),  # the install does not follow
            "- The updated venv differs from the requirements (flask 3.1.3 instead of 3.1.2): rebuilding",
            ["uv pip compile", "uv pip uninstall", "uv pip install -r requirements.txt --constraints", "compile"],
        ),
        (
            "flask==3.1.3\nlib @ https://example.com/lib-1.0.tar.gz\n",
            FakeRunner(),
            "- Rebuilding from scratch: direct references (lib @ https://example.com/lib-1.0.tar.gz) are not compared",
            [],  # found before any resolution
        ),
    ],
    ids=["unverified", "direct-reference"],
)
def test_uv_updates_that_do_not_check_out_rebuild_from_scratch(
    tmp_path: Path, requirements: str, runner: FakeRunner, said: str, update: list[str]
) -> None:
    app = installed_app(tmp_path, "pip")
    app.write("requirements.txt", requirements)
    outcome = app.install(runner=runner)
    outcome.ok()
    assert said in outcome.log
    assert runner.commands == [*update, "venv venv", "uv pip install -r requirements.txt", "compile", "uv cache"]
    assert not (app.layers_dir / "venv" / "marker").exists()


def test_uv_prunes_its_cache_layer_after_each_install_and_never_a_users_cache(tmp_path: Path) -> None:
    said = ["Pruning cache at: /layers/uv-cache", "Removed 744 files (6.3MiB)"]
    app = installed_app(tmp_path, "uv")
    app.write("uv.lock", (app.app_dir / "uv.lock").read_text() + "\n# changed\n")
    outcome = app.install(runner=FakeRunner(outputs={"uv cache": said}))
    outcome.ok()
    assert (
        "- Pruned cached uv downloads (744 files, 6.3MiB; `uv cache prune --ci`) since a later download "
        "costs less than restoring them at every build"
    ) in outcome.log
    assert "Pruning cache at" not in outcome.log  # the tool's own lines are not echoed

    # A failed prune is a warning: the install stands, the cache is kept whole.
    app.write("uv.lock", (app.app_dir / "uv.lock").read_text() + "# again\n")
    failing = FakeRunner(failing={"uv cache": ["error: the cache is locked"]}, failing_status=2)
    outcome = app.install(runner=failing)
    outcome.ok()
    assert "! Warning: Could not prune cached uv downloads" in outcome.log
    assert "failed with exit status 2:" in outcome.log and "error: the cache is locked" in outcome.log
    assert failing.commands[-1] == "uv cache" and (app.layers_dir / "uv-cache").is_dir()

    # A user's own cache directory (shared by a platform, say) is never pruned.
    app.write("uv.lock", (app.app_dir / "uv.lock").read_text() + "# once more\n")
    own = FakeRunner()
    app.install(runner=own, UV_CACHE_DIR=str(tmp_path / "shared")).ok()
    assert "uv sync" in own.commands and "uv cache" not in own.commands


def test_a_packed_pip_of_an_older_build_is_dropped_not_unpacked(tmp_path: Path) -> None:
    """pip's layer is cached as its one file: an older build's packed copy of it (pip unpacked,
    another layout) must not become the layer."""
    from python_buildpack.caching import packed
    from python_buildpack.layers import tools

    app = deps_app(tmp_path, "pip")
    app.install(runner=FakeRunner()).ok()
    metadata = tools.ToolMetadata.model_validate(toml_io.load(app.layers_dir / "pip.toml")["metadata"])
    old = tmp_path / "old-pip"
    (old / "lib" / "pip").mkdir(parents=True)
    (old / "lib" / "pip" / "__main__.py").write_text("")
    packed.save(tools.LAYERS["pip"], app.layers_dir, old, metadata)
    tools.LAYERS["pip"].remove(app.layers_dir)
    shutil.rmtree(app.layers_dir / "venv")  # installed again: pip is needed
    (app.layers_dir / "venv.toml").unlink()

    outcome = app.install(runner=FakeRunner())
    outcome.ok()
    assert "Unpacking cached pip" not in outcome.log
    assert [p.name for p in (app.layers_dir / "pip").iterdir()] == [f"pip-{TOOL_VERSIONS['pip']}.pyz"]
    assert packed.find(tools.LAYERS["pip"], app.layers_dir, metadata) is None
