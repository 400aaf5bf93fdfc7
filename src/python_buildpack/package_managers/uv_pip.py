"""uv as the installer of a requirements.txt app (opt-in: `BP_PYTHON_INSTALLER=uv`).

Same inputs and same venv layout as with pip (the venv finds the runtime's bundled pip, so
that hooks and one-off commands can still run `pip`: pip_seed.py); the pinned uv runs
`uv pip install` into it from the `uv` tool layer, with the `uv-cache` layer as its download
cache. The installer's name is the venv's package manager in the reuse key: switching
installers rebuilds the venv.

Where uv reads a requirements file differently from pip is documented in the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .. import output
from ..errors import BuildError
from ..layers.tools import ToolInstall
from ..process import Completed
from ..tool_versions import Tool
from . import pip_seed
from .base import Installer
from .pip import Pip
from .uv import prune_command

SETTING = "BP_PYTHON_INSTALLER"
CHOICES = ("pip", "uv")


class UvPip(Pip):
    name = "uv"  # type: ignore[assignment]  # Pip narrows the name to "pip"; uv is a Tool too
    cache_env_var = "UV_CACHE_DIR"

    def prepare(self, tool: ToolInstall, venv: Path) -> str | None:
        # No pip layer: `pip` runs the runtime's bundled pip, while building too.
        return pip_seed.describe(None, pip_seed.seed(venv, None))

    def commands(self, tool: ToolInstall, venv: Path) -> list[list[str | Path]]:
        *_, pip_install = super().commands(tool, venv)
        requirements = pip_install[pip_install.index("-r") :]  # requirements.txt (and the dev file)
        uv: list[str | Path] = [tool.executable(), "pip", "install", "--python", venv / "bin" / "python"]
        options = ["--no-progress"]  # byte-code: compile_command (Pip's), which skips test suites
        return [[*uv, *options, *requirements]]

    def cache_prune_command(self, tool: ToolInstall) -> list[str | Path] | None:
        return prune_command(tool)

    def resolve_command(self, tool: ToolInstall, venv: Path, output: Path) -> list[str | Path]:
        """`uv pip compile`: the versions a fresh venv would get, pinned into `output`. uv's
        resolution for compile never looks at the environment, only at its interpreter."""
        python = venv / "bin" / "python"
        options: list[str | Path] = ["--quiet", "--no-header", "--no-annotate", "--output-file", output]
        return [tool.executable(), "pip", "compile", "--python", python, *options, *self.requirement_files()]

    def uninstall_command(self, tool: ToolInstall, venv: Path, names: list[str]) -> list[str | Path]:
        return [tool.executable(), "pip", "uninstall", "--python", venv / "bin" / "python", "--quiet", *names]

    def environment(self, env: Mapping[str, str], venv: Path, app_dir: Path) -> dict[str, str]:
        result = super().environment(env, venv, app_dir)
        result["UV_PYTHON_DOWNLOADS"] = "never"
        # Copies, not hard links into the cache layer: the venv layer must stand on its own.
        result.setdefault("UV_LINK_MODE", "copy")
        return result

    def generic_failure(self, result: Completed, files: str) -> tuple[str, str]:
        # The generic explanation, not pip's: its patterns match pip's wording only.
        title, details = Installer.generic_failure(self, result, files)
        return title, (
            f"{details} uv reads requirements files slightly differently from pip (see the "
            f"buildpack's README): unset {SETTING} to install with pip instead."
        )

    def index_settings(self) -> str:
        return "UV_DEFAULT_INDEX, UV_INDEX (uv does not read PIP_INDEX_URL)"


def select(manager: Tool, default: Installer, settings: Mapping[str, str]) -> Installer:
    """The app's installer: `default`, or uv for a requirements.txt app with BP_PYTHON_INSTALLER=uv."""
    value = settings.get(SETTING, "").strip()
    if value.lower() not in ("", *CHOICES):
        raise BuildError(
            f"Invalid {SETTING}: {value[:80]!r}",
            f"{SETTING} chooses the installer of requirements.txt apps: pip (the default) or uv "
            "(faster; see the buildpack's README for how it reads requirements files). Set one of "
            "these, or unset it.",
        )
    return UvPip() if value.lower() == "uv" and manager == "pip" else default


def log_selection(manager: Tool, installer: Installer, settings: Mapping[str, str]) -> None:
    """What BP_PYTHON_INSTALLER changed, or why it changed nothing."""
    if settings.get(SETTING, "").strip().lower() != "uv":
        return
    if isinstance(installer, UvPip):
        output.step(f"Installing requirements.txt with uv instead of pip ({SETTING}=uv)")
        return
    output.warning(
        f"Ignoring {SETTING}=uv",
        f"{SETTING} applies to requirements.txt apps only. This app's dependencies are installed "
        f"by {manager}, from its lock file.",
    )
