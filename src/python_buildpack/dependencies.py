"""Dependencies: the package manager, its pinned tool, its download cache and the app's venv.

    - Package manager: pip 26.3 (requirements.txt)
    - Using cached dependencies (requirements.txt unchanged)

or, when anything the venv depends on changed:

    - Discarding cached dependencies since requirements.txt changed
    - Using cached pip 26.3
    - Installing dependencies with pip 26.3 ...
      <pip's output>
      done (12.3s)

A reused venv runs no installer at all. The package manager was chosen, and its files
checked, before the runtime was installed (project.py); this step only acts on that choice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import cast

from . import output
from .cnb.layers import Restored
from .context import Context
from .errors import BuildError
from .layers import caches, tools
from .layers import venv as venv_layer
from .layers.python import Runtime
from .layers.tools import ToolInstall
from .layers.venv import VenvMetadata
from .package_managers import pip_update, uv_pip
from .package_managers.base import Installer
from .package_managers.choice import ORDER_TEXT, Choice
from .package_managers.environment import installer_env
from .package_managers.pip import DEV_REQUIREMENTS, Pip
from .process import Completed
from .project import DEV_SETTING, Project
from .python_version import change_advice
from .tool_versions import Tool

DEV_DESCRIPTION: dict[Tool, str] = {
    "pip": f"{DEV_REQUIREMENTS} after requirements.txt, when it exists",
    "pipenv": "pipenv install --dev ([dev-packages])",
    "poetry": "poetry sync --all-groups",
    "uv": "uv sync with uv's default groups (dev)",
}


def install(ctx: Context, env: dict[str, str], project: Project, runtime: Runtime) -> Path:
    """Installs the app's dependencies into the `venv` layer (or reuses it); returns the venv dir.

    `env` is the build environment so far (the runtime layer applied); the venv layer's is
    added to it. The installers also get the user's settings (PIP_*, PIPENV_*, POETRY_*, UV_*).
    """
    app_dir = ctx.app_dir.absolute()
    choice, installer = project.choice, project.installer
    _log_choice(ctx, choice, installer)
    tools.remove_unused(ctx.layers_dir, {"pip", installer.name})
    caches.remove_unused(ctx.layers_dir, {installer.name})

    expected = VenvMetadata(
        python_version=runtime.version,
        stack=runtime.stack.name,
        arch=runtime.stack.arch,
        package_manager=installer.name,
        package_manager_version=installer.version,
        app_dir=str(app_dir),
        inputs=dict(project.inputs),
        dev_dependencies=installer.dev,
    )
    opened = venv_layer.open_venv(ctx.layers_dir, expected)
    base_env = installer_env(env, ctx.settings)
    if isinstance(opened, Restored):
        # Nothing to install: keep the tool and cache layers that are still valid, run nothing.
        for name in dict.fromkeys(("pip", installer.name)):
            tools.keep_if_current(ctx, name, runtime)
        caches.install(ctx, {}, installer.name, installer.cache_env_var, runtime, quiet=True)
        output.step(f"Using cached dependencies ({', '.join(expected.inputs) or 'no dependency files'} unchanged)")
        return venv_layer.activate(env, ctx.layers_dir)
    # pip apps update the venv in place when only their requirements changed (pip_update.py).
    updatable = isinstance(installer, Pip) and installer.name == "pip" and venv_layer.can_update(opened)
    if updatable:
        output.step(f"Updating cached dependencies since {opened.reason}")
    elif opened.reason:
        output.step(f"Discarding cached dependencies since {opened.reason}")

    tool = _tools(ctx, base_env, installer.name, runtime)
    caches.install(ctx, base_env, installer.name, installer.cache_env_var, runtime)

    @functools.cache
    def install_env() -> dict[str, str]:
        # The venv layer's own environment, read once the venv exists (VIRTUAL_ENV, bin/ on PATH).
        result = dict(base_env)
        venv_dir = venv_layer.activate(result, ctx.layers_dir)
        return installer.environment(result, venv_dir, app_dir)

    def run_checked(command: Sequence[str | Path], echo: bool = True) -> Completed:
        result = _run(ctx, command, install_env(), app_dir, installer, echo=echo)
        if result.returncode != 0:
            advice = partial(change_advice, project.requested, runtime.version)
            raise installer.failure(result, choice.files, runtime.version, advice)
        return result

    def compile_bytecode(venv_dir: Path) -> None:
        command = installer.compile_command(venv_dir)
        if command is None:
            return
        result = _run(ctx, command, install_env(), app_dir, installer, echo=False)
        if result.returncode not in (0, 1):  # 1: a file that does not compile, which pip ignores too
            raise BuildError(
                "Could not compile the dependencies' byte-code",
                f"Compiling the venv's modules with Python {runtime.version} failed with exit status "
                f"{result.returncode} (see the output above). Build again; if it fails the same way, "
                "clear the app's build cache.",
                output=result.tail(),
            )

    def fill(venv_dir: Path) -> None:
        with output.timed(f"Installing dependencies with {installer.name} {installer.version}"):
            installer.prepare(tool, venv_dir)
            for command in installer.commands(tool, venv_dir):
                run_checked(command)
            compile_bytecode(venv_dir)

    if updatable:
        venv_dir = venv_layer.LAYER.layer(ctx.layers_dir).path
        with pip_update.resolving(cast(Pip, installer), tool, venv_dir, app_dir, run_checked) as resolution:
            if resolution is not None and venv_layer.update(opened, partial(_update, resolution, compile_bytecode)):
                return venv_layer.activate(env, ctx.layers_dir)
    venv_layer.rebuild(ctx, base_env, opened, runtime, fill)
    return venv_layer.activate(env, ctx.layers_dir)


def _update(resolution: pip_update.Resolution, compile_bytecode: Callable[[Path], None], venv: Path) -> bool:
    if not pip_update.update(resolution, venv):
        return False
    compile_bytecode(venv)  # the updated packages' byte-code
    return True


def _run(
    ctx: Context, command: Sequence[str | Path], env: dict[str, str], cwd: Path, installer: Installer, *, echo: bool
) -> Completed:
    try:
        return ctx.run(command, env, cwd, echo=output.detail if echo else None, hide=installer.hide_line)
    except OSError as error:
        raise BuildError(
            f"Could not run {Path(command[0]).name}",
            f"Starting `{' '.join(map(str, command[:3]))} ...` failed: {error.strerror or error}. The cached "
            "tool layer may be damaged: clear the app's build cache and build again.",
        ) from error


def _tools(ctx: Context, env: dict[str, str], manager: Tool, runtime: Runtime) -> ToolInstall:
    """The manager's tool. pip installs the others, so it is only needed when one is missing."""
    if manager != "pip" and (tools.is_current(ctx.layers_dir, manager, runtime) or tools.prefetching(manager)):
        tools.keep_if_current(ctx, "pip", runtime)
        return tools.install(ctx, env, manager, runtime, None)
    pip = tools.install(ctx, env, "pip", runtime, None)
    return pip if manager == "pip" else tools.install(ctx, env, manager, runtime, pip)


def _log_choice(ctx: Context, choice: Choice, installer: Installer) -> None:
    uv_pip.log_selection(choice.manager, installer, ctx.settings)
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
    if installer.dev:
        output.step(f"Including development dependencies ({DEV_SETTING}=true): {DEV_DESCRIPTION[choice.manager]}")

