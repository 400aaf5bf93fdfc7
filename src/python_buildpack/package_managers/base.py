"""What every package manager's installer shares: the inputs a venv depends on, the commands
that fill it, and the explanation of a failed install (specific causes first).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import ClassVar

from ..errors import BuildError
from ..layers.tools import ToolInstall
from ..network_errors import NETWORK_ERRORS, unreachable_git_host
from ..process import Completed
from ..tool_versions import TOOL_VERSIONS, Tool
from .hints import hint_for


class Installer(ABC):
    """How one package manager installs an app's dependencies into a venv."""

    name: ClassVar[Tool]
    # The tool's download cache setting; a user value passes through instead of our layer.
    cache_env_var: ClassVar[str]
    # The lock file and the command that regenerates it, for "out of sync" errors.
    project_file: ClassVar[str] = ""
    lock_file: ClassVar[str] = ""
    lock_command: ClassVar[str] = ""
    # Output patterns that mean the lock file does not match the project file.
    out_of_sync: ClassVar[tuple[str, ...]] = ()
    # Also the development dependencies (BP_PYTHON_INSTALL_DEV_DEPENDENCIES, for CI builds).
    dev: bool = False
    # When only the dependency files changed, the previous venv is updated in place (exactly:
    # pip_update.py, uv_update.py) rather than rebuilt from scratch.
    updates_in_place: ClassVar[bool] = False

    def for_development(self, app_dir: Path) -> Installer:
        """A copy of this installer that also installs the app's development dependencies."""
        development = copy.copy(self)
        development.dev = True
        return development

    @property
    def version(self) -> str:
        return TOOL_VERSIONS[self.name]

    @abstractmethod
    def inputs(self, app_dir: Path) -> dict[str, str]:
        """What the venv's contents depend on: a label (a path) → its digest."""

    def prepare(self, tool: ToolInstall, venv: Path) -> str | None:
        """What a new venv gets before the install commands run (nothing, unless overridden);
        returns a line for the log."""
        return None

    @abstractmethod
    def commands(self, tool: ToolInstall, venv: Path) -> list[list[str | Path]]:
        """The install commands, run in order from the app dir."""

    def cache_prune_command(self, tool: ToolInstall) -> list[str | Path] | None:
        """The tool's own pruning of its download cache, run after each install into our cache
        layer (never into a user's cache directory); None: the tool has none worth running."""
        return None

    def compile_command(self, venv: Path) -> list[str | Path] | None:
        """What compiles the byte-code the install commands left out (None: they compile it)."""
        return None

    def environment(self, env: Mapping[str, str], venv: Path, app_dir: Path) -> dict[str, str]:
        """The installer's environment. `env` is the build environment with the venv layer
        applied (VIRTUAL_ENV, its bin/ first on PATH), the user's settings and the cache dir."""
        return dict(env)

    def hide_line(self, line: str) -> bool:
        """Output lines not worth showing (tracebacks a tool prints around its own errors)."""
        return False

    def failure(
        self, result: Completed, files: Iterable[str], version: str, advice: Callable[[str], str]
    ) -> BuildError:
        """The error of a failed install, after its output streamed into the log (not repeated).

        `version` is the build's Python; `advice` says how to request another one, given what
        the project accepts (python_version.change_advice).
        """
        return BuildError(*self.explain(result, ", ".join(files), version, advice))

    def explain(self, result: Completed, files: str, version: str, advice: Callable[[str], str]) -> tuple[str, str]:
        """The error title and paragraph for a failed install; specific causes first."""
        for pattern in self.out_of_sync:
            if result.matches(pattern):
                lock = self.lock_file
                return (
                    f"{lock} is out of date",
                    f"{lock} does not match the dependencies declared in {self.project_file}, so "
                    f"{self.name} refused to install from it (see its output above). Run "
                    f"`{self.lock_command}` where you develop the app, commit the updated {lock} "
                    "and deploy again.",
                )
        host = unreachable_git_host(result)
        if host:
            return (
                f"{self.name} could not reach {host}",
                f"{self.name} could not fetch a git dependency from {host}: the host name could not be "
                f"resolved or the host did not answer (see the output above). Check the repository URL "
                f"in {files}, and that {host} is reachable from the platform (a private git server must "
                "accept connections from the build). If it is, this is usually temporary: build again.",
            )
        hint = hint_for("\n".join(result.lines))
        if hint:
            return hint.title, hint.explanation
        if result.matches(NETWORK_ERRORS):
            return (
                f"{self.name} could not reach the package index",
                f"{self.name} failed while downloading packages: the index or a download host "
                "could not be reached (see the output above). This is usually temporary: build "
                f"again. If the app uses a private index, check its URL and credentials in the "
                f"app's environment ({self.index_settings()}) and that the platform can reach it.",
            )
        python_problem = self.python_mismatch(result, version, advice)
        if python_problem:
            return python_problem
        return self.generic_failure(result, files)

    def python_mismatch(self, result: Completed, version: str, advice: Callable[[str], str]) -> tuple[str, str] | None:
        """The error when the tool refused the build's Python version, naming where it came from."""
        return None

    def generic_failure(self, result: Completed, files: str) -> tuple[str, str]:
        return (
            f"{self.name} could not install the dependencies from {files}",
            f"{self.name} {self.version} exited with status {result.returncode}; its output above "
            "says which package failed and why. Check the package names and versions, try the same "
            f"install locally with Python of the same version, fix {files} and deploy again.",
        )

    def index_settings(self) -> str:
        return "PIP_INDEX_URL, PIP_EXTRA_INDEX_URL"
