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
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

from . import output
from .caching import packed
from .caching.on_demand import OnDemand
from .caching.plan import CachePlan
from .cnb.layers import Changed, Empty, Restored
from .errors import BuildError
from .layers import caches, site_layers, tools
from .layers import venv as venv_layer
from .layers.python import Runtime
from .layers.tools import ToolInstall
from .layers.venv import Venv, VenvMetadata
from .package_managers import pip_seed, pip_update, uv_pip, uv_update
from .package_managers.base import Installer
from .package_managers.choice import ORDER_TEXT
from .package_managers.environment import installer_env
from .package_managers.pip import DEV_REQUIREMENTS, Pip
from .package_managers.uv import Uv
from .package_managers.uv_pip import UvPip
from .process import Completed
from .project import DEV_SETTING, Project
from .runtime.selection import change_advice
from .step_context import Context
from .tool_versions import Tool

DEV_DESCRIPTION: dict[Tool, str] = {
    "pip": f"{DEV_REQUIREMENTS} after requirements.txt, when it exists",
    "pipenv": "pipenv install --dev ([dev-packages])",
    "poetry": "poetry sync --all-groups",
    "uv": "uv sync with uv's default groups (dev)",
}


def expected_venv(ctx: Context, project: Project) -> VenvMetadata:
    """What the venv this build needs is made from: the metadata a reusable one has."""
    installer = project.installer
    return VenvMetadata(
        python_version=project.python_version,
        stack=project.stack.name,
        arch=project.stack.arch,
        package_manager=installer.name,
        package_manager_version=installer.version,
        app_dir=str(ctx.app_dir.absolute()),
        inputs=dict(project.inputs),
        dev_dependencies=installer.dev,
        venv_pip=pip_seed.OUTSIDE if isinstance(installer, Pip) else "installed in it",
    )


def will_install(ctx: Context, project: Project) -> bool:
    """Whether this build runs the installer (its tool's wheel can be fetched meanwhile)."""
    return not venv_layer.LAYER.is_current(ctx.layers_dir, expected_venv(ctx, project))


def install(ctx: Context, env: dict[str, str], project: Project, runtime: Runtime, plan: CachePlan) -> Venv:
    """Installs the app's dependencies into the `venv` layer (or reuses it).

    `env` is the build environment so far (the runtime layer applied); the venv layer's is
    added to it once its files are there. The installers also get the user's settings
    (PIP_*, PIPENV_*, POETRY_*, UV_*).
    """
    app_dir = ctx.app_dir.absolute()
    choice, installer = project.choice, project.installer
    log_choice(ctx, project)
    tools.remove_unused(ctx.layers_dir, {"pip", installer.name})
    caches.remove_unused(ctx.layers_dir, {installer.name})

    expected = expected_venv(ctx, project)
    opened = venv_layer.open_venv(ctx.layers_dir, expected, plan)
    files_needed = plan.runs_python_now or plan.later_buildpack  # by the steps after this one, or a later buildpack
    if isinstance(opened, Restored):
        venv = venv_layer.reused(opened, ctx.layers_dir)
        if files_needed:  # unpacked while the runtime's files come (first: its bin/ goes after the venv's)
            venv_layer.start_obtaining(venv, ctx.layers_dir)
            runtime.need(env)
        if opened.files:
            venv_layer.activate(env, ctx.layers_dir)
        missing = venv_layer.obtain_now(venv, env, ctx.layers_dir) if files_needed else ""
        if missing:  # the venv's files are needed and cannot be had: install again
            opened = Empty(opened.layer, plan.launch_types, expected, Changed(opened.metadata, (missing,)))
        else:
            # Nothing to install: run nothing; the cache layers that are still valid stay.
            caches.install(ctx, {}, installer.name, installer.cache_env_var, runtime, quiet=True)
            output.step(reused_line(expected))
            return venv
    copied = venv_layer.from_copy(opened)  # the previous image lost it, the cache has it
    if copied is not None:
        output.step(reused_line(expected))
        caches.install(ctx, {}, installer.name, installer.cache_env_var, runtime, quiet=True)
        venv_layer.activate(env, ctx.layers_dir)
        return copied
    # pip and uv update the venv in place when only the dependency files changed (pip_update.py,
    # uv_update.py), starting from the previous venv's files (unpacked from its packed copy).
    updatable = installer.updates_in_place and venv_layer.only_inputs_changed(opened)
    unpacking = None
    if updatable:
        output.step(f"Updating cached dependencies since {opened.reason}")
        unpacking = venv_layer.start_unpack_previous(opened)  # while the runtime's files come
    elif opened.reason:
        output.step(f"Discarding cached dependencies since {opened.reason}")
    runtime.need(env)  # every install runs the runtime (and the venv's bin/python links to it)
    base_env = installer_env(env, ctx.settings)
    tool = _tools(ctx, base_env, installer.name, runtime)
    caches.install(ctx, base_env, installer.name, installer.cache_env_var, runtime)

    @functools.cache
    def install_env() -> dict[str, str]:
        # The venv layer's own environment, read once the venv exists (VIRTUAL_ENV, bin/ on PATH).
        result = dict(base_env)
        venv_dir = venv_layer.activate(result, ctx.layers_dir)
        return installer.environment(result, venv_dir, app_dir)

    def checked(command: Sequence[str | Path], command_env: dict[str, str], echo: bool) -> Completed:
        result = _run(ctx, command, command_env, app_dir, installer, echo=echo)
        if result.returncode != 0:
            advice = partial(change_advice, project.requested, runtime.version)
            raise installer.failure(result, choice.files, runtime.version, advice)
        return result

    def run_checked(command: Sequence[str | Path], echo: bool = True) -> Completed:
        return checked(command, install_env(), echo)

    def run_outside(command: Sequence[str | Path], echo: bool = True) -> Completed:
        # The runtime's interpreter, before the venv's files are there (its env is not read). A
        # user's PIP_REQUIRE_VIRTUALENV would refuse it: what it runs installs nothing.
        return checked(command, {**base_env, "PIP_REQUIRE_VIRTUALENV": "false"}, echo)

    def compile_bytecode(command: Sequence[str | Path] | None) -> None:
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
            note = installer.prepare(tool, venv_dir)
            for command in installer.commands(tool, venv_dir):
                run_checked(command)
            compile_bytecode(installer.compile_command(venv_dir))
        if note:
            output.step(note)

    made = venv_layer.Venv(OnDemand.present(opened.layer), expected)
    venv_dir = venv_layer.LAYER.layer(ctx.layers_dir).path
    with ExitStack() as resolving:
        resolution: pip_update.Resolution | None = None
        if updatable and isinstance(installer, Pip) and not isinstance(installer, UvPip):  # while the venv unpacks
            resolution = resolving.enter_context(pip_update.resolving(
                installer, tool, venv_dir, app_dir, run_checked, runtime.version, python=runtime.python,
                run_resolve=run_outside, recorded=venv_layer.recorded_requirements(opened)))  # fmt: skip
            updatable = resolution is not None
        stubs = None
        if updatable:  # waits for the unpack
            updatable, stubs = _update_start(ctx, opened, unpacking, plan)
        elif unpacking is not None:  # direct references: nothing may write into the venv's place once rebuilt
            venv_layer.unpack_whole(opened, unpacking)
        if updatable:
            updating = _updating(installer, tool, venv_dir, app_dir, runtime.version, run_checked, compile_bytecode,
                                 resolution)  # fmt: skip
            with updating as update:
                if isinstance(stubs, site_layers.Stubs) and update is not None:
                    update = _laid_out(update, stubs, ctx.layers_dir)
                if update is not None and venv_layer.update(opened, update, unpacking):
                    _record_install(ctx, installer, tool, base_env, venv_dir)
                    venv_layer.activate(env, ctx.layers_dir)
                    made.stubs = stubs if isinstance(stubs, site_layers.Stubs) else None
                    return made
    venv_layer.unpack_rest(opened, unpacking)  # the previous venv whole, for a failed install to put back
    venv_layer.rebuild(ctx, base_env, opened, runtime, fill)
    venv_dir = venv_layer.activate(env, ctx.layers_dir)
    _record_install(ctx, installer, tool, base_env, venv_dir)
    return made


def _update_start(ctx: Context, opened: Empty[VenvMetadata], unpacking: packed.Unpacking | None,
                  plan: CachePlan) -> tuple[bool, site_layers.Stubs | None]:  # fmt: skip
    """The previous venv's files, for an update in place: whether it can be updated (else the
    log says why, and the venv is installed whole), and its stubs if it is split."""
    if not (venv_layer.unpack_previous(opened, unpacking) and venv_layer.can_update(opened)):
        output.step("No copy of them in the cache to update: installing them all")
        return False, None
    # A split venv: updated as stubs (layers/site_layers.py).
    stubs = venv_layer.stubs_for_update(ctx.layers_dir, opened, plan, site_layers.mode(ctx.settings))
    if isinstance(stubs, str):
        output.step(f"Installing them all since {stubs}")
        return False, None
    if stubs is not None:
        output.step(f"Updating the records of {len(stubs.dists)} distributions: their files stay in "
                    f"{len(stubs.layers)} layers, of which only those that change are written")  # fmt: skip
    return True, stubs


@contextmanager
def _updating(
    installer: Installer,
    tool: ToolInstall,
    venv: Path,
    app_dir: Path,
    python_version: str,
    run_checked: pip_update.RunChecked,
    compile_bytecode: uv_update.Compile,
    resolution: pip_update.Resolution | None,
) -> Iterator[uv_update.Update | None]:
    """The installer's update of the venv in place, its target set resolved meanwhile (pip's:
    `resolution`, started already); None: rebuild it."""
    if isinstance(installer, UvPip):
        with uv_update.requirements_update(installer, tool, venv, app_dir, python_version, run_checked,
                                           compile_bytecode) as update:  # fmt: skip
            yield update
    elif isinstance(installer, Uv):
        with uv_update.lock_update(installer, tool, venv, python_version, run_checked, compile_bytecode) as update:
            yield update
    else:
        yield None if resolution is None else partial(_update, resolution, compile_bytecode, installer)


def _laid_out(update: uv_update.Update, stubs: site_layers.Stubs, layers_dir: Path) -> uv_update.Update:
    """`update` of a venv of stubs, verified also to fit its site layers: else the venv is
    installed whole (site_layers.unchangeable)."""

    def checked(venv: Path) -> bool:
        if not update(venv):
            return False
        reason = site_layers.unchangeable(venv, layers_dir, stubs)
        if reason:
            output.step(f"Installing them all since {reason}")
        return not reason

    return checked


def _update(resolution: pip_update.Resolution, compile_bytecode: uv_update.Compile, installer: Installer,
            venv: Path) -> bool:  # fmt: skip
    if not pip_update.update(resolution, venv):
        return False
    compile_bytecode(installer.compile_command(venv))  # the updated packages' byte-code
    return True


def _record_install(ctx: Context, installer: Installer, tool: ToolInstall, env: dict[str, str], venv: Path) -> None:
    """The venv's releases, for pruning what the installs no longer use from the download cache."""
    prune = installer.cache_prune_command(tool)
    caches.record_install(ctx, installer.name, pip_update.installed(venv), prune, env)


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
        return tools.install(ctx, env, manager, runtime, None)
    pip = tools.install(ctx, env, "pip", runtime, None)
    return pip if manager == "pip" else tools.install(ctx, env, manager, runtime, pip)


def reused_line(expected: VenvMetadata) -> str:
    return f"Using cached dependencies ({', '.join(expected.inputs) or 'no dependency files'} unchanged)"


def log_choice(ctx: Context, project: Project) -> None:
    """The package manager and what chose it: the first lines of the section, reused or not."""
    choice, installer = project.choice, project.installer
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
