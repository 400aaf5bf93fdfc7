"""Poetry: `poetry sync --only main --compile` from poetry.lock into the app's venv.

Poetry installs into the active virtual environment named by VIRTUAL_ENV (and never creates
one of its own here); `sync` fails when poetry.lock no longer matches pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ..app.digests import digests
from ..layers.tools import ToolInstall
from ..process import Completed
from .base import Installer


class Poetry(Installer):
    name = "poetry"
    cache_env_var = "POETRY_CACHE_DIR"
    project_file = "pyproject.toml"
    lock_file = "poetry.lock"
    lock_command = "poetry lock"
    out_of_sync = (r"changed significantly since poetry\.lock was last generated", r"poetry\.lock.*not consistent")

    def inputs(self, app_dir: Path) -> dict[str, str]:
        # poetry.toml is the project's Poetry configuration (it can change how packages install).
        return digests(app_dir, ("pyproject.toml", "poetry.lock", "poetry.toml"))

    def commands(self, tool: ToolInstall, venv: Path) -> list[list[str | Path]]:
        groups = ["--all-groups"] if self.dev else ["--only", "main"]
        return [[tool.executable(), "sync", *groups, "--compile", "--no-interaction", "--no-ansi"]]

    def environment(self, env: Mapping[str, str], venv: Path, app_dir: Path) -> dict[str, str]:
        result = super().environment(env, venv, app_dir)
        result.update({"POETRY_VIRTUALENVS_CREATE": "false", "POETRY_NO_INTERACTION": "1"})
        return result

    def python_mismatch(self, result: Completed, version: str, advice: Callable[[str], str]) -> tuple[str, str] | None:
        # "Current Python version (3.13.0) is not allowed by the project (3.12.*)." when
        # installing into the active venv; "... is not supported by the project" when choosing one.
        refused = result.matches(r"is not (?:allowed|supported) by the project \((.+)\)\.?$")
        if not refused:
            return None
        requirement = refused.group(1)
        return (
            f"pyproject.toml does not allow Python {version}",
            f"The project requires Python {requirement} (requires-python, or python in "
            f"[tool.poetry.dependencies]), so poetry refused to install with Python {version}. "
            f"{advice(f'that matches {requirement}')} Or widen the requirement in pyproject.toml, "
            "run `poetry lock` and deploy again.",
        )

    def index_settings(self) -> str:
        return "the [[tool.poetry.source]] entries, POETRY_HTTP_BASIC_<SOURCE>_USERNAME/PASSWORD"
