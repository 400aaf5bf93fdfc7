"""The app as it declares itself, read and checked before anything is downloaded.

`analyse` reads every file the build depends on (package manager files, Python version
files, nltk.txt; the Procfile is read before the pre_compile hook) and the settings that
choose what to install, so that a missing lock file, an invalid Pipfile or an unknown Python
version stops the build in milliseconds, not after the runtime download. The result is a
frozen `Project` that the build steps receive.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .app import source_checks
from .cnb.models import Process
from .layers import nltk
from .layers import python as python_layer
from .package_managers.base import Installer
from .package_managers.choice import Choice, choose
from .package_managers.pip import Pip
from .package_managers.pipenv import Pipenv
from .package_managers.poetry import Poetry
from .package_managers.uv import Uv
from .package_managers.uv_pip import select
from .runtime import policy as version_policy
from .runtime import selection
from .runtime.catalog import RuntimeCatalog
from .runtime.selection import RequestedVersion, ResolvedVersion, VersionWarning
from .runtime.version_files import read_requested_version
from .stacks.identify import Stack
from .step_context import Context
from .switches import switch
from .tool_versions import Tool

INSTALLERS: dict[Tool, Installer] = {"pip": Pip(), "pipenv": Pipenv(), "poetry": Poetry(), "uv": Uv()}

DEV_SETTING = "BP_PYTHON_INSTALL_DEV_DEPENDENCIES"


@dataclass(frozen=True)
class Project:
    app_dir: Path
    stack: Stack
    choice: Choice  # the package manager and the files it installs from
    installer: Installer  # its installer (uv for pip apps with BP_PYTHON_INSTALLER=uv), dev or not
    inputs: Mapping[str, str]  # what the venv's content depends on: file label → digest
    requested: RequestedVersion
    resolved: ResolvedVersion
    version_warnings: tuple[VersionWarning, ...]
    # The Procfile as committed (None without one), checked before any hook runs; hooks may
    # still write or change it, so the launch step reads it again.
    processes: list[Process] | None
    nltk_corpora: list[str] | None  # from nltk.txt, None without one

    @property
    def python_version(self) -> str:
        return self.resolved.version


def analyse(
    ctx: Context, stack: Stack, catalog: RuntimeCatalog, processes: list[Process] | None, *, today: datetime.date
) -> Project:
    """Reads and checks what the app declares; raises the BuildError of the first mistake."""
    app_dir = ctx.app_dir
    choice, installer, inputs = read_package_manager(ctx)
    requested, warnings = read_requested_version(app_dir, catalog.default, pipenv=choice.manager == "pipenv")
    if requested.source not in (selection.RUNTIME_TXT, selection.PYTHON_VERSION_FILE):
        source_checks.check_version_file_names(app_dir)
    previous = python_layer.previous_version(ctx.layers_dir)
    requested = version_policy.sticky(requested, previous, catalog, stack.name)
    resolved = selection.resolve(requested, catalog, stack.name)
    policy = (
        version_policy.missing_file_warning(resolved),
        version_policy.end_of_life_warning(resolved, catalog, stack.name, today),
    )
    return Project(
        app_dir=app_dir,
        stack=stack,
        choice=choice,
        installer=installer,
        inputs=inputs,
        requested=requested,
        resolved=resolved,
        version_warnings=(*warnings, *filter(None, policy)),
        processes=processes,
        nltk_corpora=nltk.read_nltk_txt(app_dir),
    )


def with_runtime(ctx: Context, stack: Stack, version: str) -> Project:
    """The app's dependencies analysed for an interpreter chosen elsewhere (the benchmarks and
    the dependency tests install into a local Python); its version files only say where the
    requested version came from."""
    choice, installer, inputs = read_package_manager(ctx)
    requested, _ = read_requested_version(ctx.app_dir, version.rsplit(".", 1)[0], pipenv=choice.manager == "pipenv")
    return Project(ctx.app_dir, stack, choice, installer, inputs, requested, ResolvedVersion(version, requested),
                   (), None, None)  # fmt: skip


def read_package_manager(ctx: Context) -> tuple[Choice, Installer, dict[str, str]]:
    """The package manager, its installer as the settings configure it, and the venv's inputs."""
    choice = choose(ctx.app_dir)
    installer = select(choice.manager, INSTALLERS[choice.manager], ctx.settings)
    if dev_dependencies(ctx.settings):
        installer = installer.for_development(ctx.app_dir)
    return choice, installer, installer.inputs(ctx.app_dir)  # inputs() also checks the Pipfile parses


def dev_dependencies(settings: Mapping[str, str]) -> bool:
    """BP_PYTHON_INSTALL_DEV_DEPENDENCIES: a boolean; anything else is a mistake worth a stop."""
    return switch(settings, DEV_SETTING, "true also installs the development dependencies (for CI builds that "
                  "run tests); unset it for images that serve the app.")
