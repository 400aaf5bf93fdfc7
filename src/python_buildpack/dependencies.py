"""Dependencies: the package manager, its pinned tool, its download cache and the app's venv.

    - Package manager: pip 26.3 (requirements.txt)
    - Using cached dependencies (requirements.txt unchanged)

or, when anything the venv depends on changed:

    - Discarding cached dependencies since requirements.txt changed
    - Using cached pip 26.3
    - Installing dependencies with pip 26.3 ...
      <pip's output>
      done (12.3s)

A reused venv runs no installer at all. `build.py` calls `install_dependencies` after the
runtime layer is installed, then `venv_env` for the steps that follow (collectstatic, hooks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import cast

from . import output
from .cnb.context import BuildContext
from .errors import BuildError
from .layers import caches, tools
from .layers.venv import VenvLayer, VenvMetadata
from .package_managers import pip_update, uv_pip
from .package_managers.base import (
    Completed,
    Installer,
    Runtime,
    ToolInstall,
    installer_env,
    prepend_path,
    run,
    user_settings,
)
from .package_managers.choice import ORDER_TEXT, Choice, choose
from .package_managers.pip import DEV_REQUIREMENTS, Pip
from .package_managers.pipenv import Pipenv
from .package_managers.poetry import Poetry
from .package_managers.uv import Uv
from .package_managers.versions import Tool
from .python_version import RequestedVersion, change_advice
from .stack import Stack

INSTALLERS: dict[Tool, Installer] = {"pip": Pip(), "pipenv": Pipenv(), "poetry": Poetry(), "uv": Uv()}

DEV_SETTING = "BP_PYTHON_INSTALL_DEV_DEPENDENCIES"
DEV_DESCRIPTION: dict[Tool, str] = {
    "pip": f"{DEV_REQUIREMENTS} after requirements.txt, when it exists",
    "pipenv": "pipenv install --dev ([dev-packages])",
    "poetry": "poetry sync --all-groups",
    "uv": "uv sync with uv's default groups (dev)",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def install_dependencies(
    ctx: BuildContext,
    stack: Stack,
    python_home: Path,
    python_version: str,
    env: Mapping[str, str],
    *,
    requested: RequestedVersion,
) -> Path:
    """Installs the app's dependencies into the `venv` layer (or reuses it); returns the venv dir.

    `requested` says where `python_version` came from, for errors of installers that refuse it.

    `env` is the build environment (the runtime's bin on PATH, its lib on LD_LIBRARY_PATH);
    it is copied, never changed. User settings for the installers (PIP_*, PIPENV_*, POETRY_*,
    UV_*) are read from `ctx.env` and pass through.
    """
    app_dir, layers_dir = ctx.app_dir.absolute(), ctx.layers_dir.absolute()
    choice = choose(app_dir)
    installer = uv_pip.select(choice.manager, INSTALLERS[choice.manager], ctx.env)
    if dev_dependencies(ctx.env):
        installer = installer.for_development(app_dir)
    _log_choice(choice, installer)
    if installer.dev:
        output.step(f"Including development dependencies ({DEV_SETTING}=true): {DEV_DESCRIPTION[choice.manager]}")
    runtime = Runtime(python_home, python_version, stack)
    settings = user_settings(ctx.env)
    base_env = installer_env(env, settings)
    tools.remove_unused(layers_dir, {"pip", installer.name})
    caches.remove_unused(layers_dir, {installer.name})

    venv = VenvLayer(layers_dir)
    expected = VenvMetadata(
        python_version=python_version,
        stack=stack.name,
        arch=stack.arch,
        package_manager=installer.name,
        package_manager_version=installer.version,
        app_dir=str(app_dir),
        inputs=installer.inputs(app_dir),
        dev_dependencies=installer.dev,
    )
    decision = venv.decide(expected)
    if decision.keep:
        # Nothing to install: keep the tool and cache layers that are still valid, run nothing.
        for name in dict.fromkeys(("pip", installer.name)):
            tools.keep_if_current(layers_dir, name, runtime)
        caches.prepare(layers_dir, installer.name, installer.cache_env_var, runtime, settings, quiet=True)
        venv.keep(expected)
        output.step(f"Using cached dependencies ({', '.join(expected.inputs) or 'no dependency files'} unchanged)")
        return venv.path
    # pip apps update the venv in place when only their requirements changed (pip_update.py).
    updatable = isinstance(installer, Pip) and installer.name == "pip" and venv.can_update(decision, expected)
    if updatable:
        output.step(f"Updating cached dependencies since {decision.reason_text}")
    elif decision.had_previous:
        output.step(f"Discarding cached dependencies since {decision.reason_text}")

    tool = _tools(layers_dir, installer.name, runtime, base_env)
    cache_setting = caches.prepare(layers_dir, installer.name, installer.cache_env_var, runtime, settings)
    install_env = installer.environment(base_env | cache_setting, venv.path, app_dir)

    def run_checked(command: Sequence[str | Path], echo: bool = True) -> Completed:
        result = run(command, install_env, app_dir, echo=echo, hide=installer.hide_line)
        if result.returncode != 0:
            advice = partial(change_advice, requested, python_version)
            raise installer.failure(result, choice.files, python_version, advice)
        return result

    def install(venv_dir: Path) -> None:
        with output.timed(f"Installing dependencies with {installer.name} {installer.version}"):
            for command in installer.commands(tool, venv_dir):
                run_checked(command)

    if updatable and venv.update(
        expected, lambda venv_dir: pip_update.update(cast(Pip, installer), tool, venv_dir, app_dir, run_checked)
    ):
        return venv.path
    venv.rebuild(expected, runtime, base_env, install)
    return venv.path


def dev_dependencies(settings: Mapping[str, str]) -> bool:
    """BP_PYTHON_INSTALL_DEV_DEPENDENCIES: a boolean; anything else is a mistake worth a stop."""
    value = settings.get(DEV_SETTING, "").strip()
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise BuildError(
        f"Invalid {DEV_SETTING}: {value[:80]!r}",
        f"{DEV_SETTING} must be true or false (also accepted: 1/0, yes/no, on/off). true also "
        "installs the development dependencies (for CI builds that run tests); unset it for "
        "images that serve the app.",
    )


def venv_env(venv: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The environment of the build steps after the install: the venv active, first on PATH."""
    result = dict(env)
    prepend_path(result, venv / "bin")
    result["VIRTUAL_ENV"] = str(venv)
    result.pop("PYTHONHOME", None)
    return result


def _tools(layers_dir: Path, manager: Tool, runtime: Runtime, env: dict[str, str]) -> ToolInstall:
    """The manager's tool. pip installs the others, so it is only needed when one is missing."""
    if manager != "pip" and (tools.is_current(layers_dir, manager, runtime) or tools.prefetching(manager)):
        tools.keep_if_current(layers_dir, "pip", runtime)
        return tools.ensure(layers_dir, manager, runtime, env, None)
    pip = tools.ensure(layers_dir, "pip", runtime, env, None)
    return pip if manager == "pip" else tools.ensure(layers_dir, manager, runtime, env, pip)


def _log_choice(choice: Choice, installer: Installer) -> None:
    output.step(f"Package manager: {installer.name} {installer.version} ({', '.join(choice.files)})")
    if choice.ignored:
        details = (
            f"The app has files of several package managers. The first of this order is used: {ORDER_TEXT}. "
            f"This build installs with {installer.name} from {', '.join(choice.files)} and ignores "
            f"{', '.join(choice.ignored)}."
        )
        if choice.incomplete:
            details += f" Not usable: {'; '.join(choice.incomplete)}."
        details += " Delete the files of the package managers the app does not use to silence this warning."
        output.warning(f"Ignoring {', '.join(choice.ignored)}: using {', '.join(choice.files)}", details)
