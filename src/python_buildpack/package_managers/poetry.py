"""Poetry: `poetry sync --only main --compile` from poetry.lock into the app's venv.

Poetry installs into the active virtual environment named by VIRTUAL_ENV (and never creates
one of its own here); `sync` fails when poetry.lock no longer matches pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .base import Completed, Installer, ToolInstall, digests


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

    def python_mismatch(self, result: Completed) -> tuple[str, str] | None:
        if result.matches(r"is not supported by the project|not compatible with the project"):
            return (
                "pyproject.toml does not allow this Python version",
                "The project's Python requirement (requires-python, or python in "
                "[tool.poetry.dependencies]) excludes the Python version of this build (see the "
                "output above). Choose a version it allows in .python-version, or widen the "
                "requirement, run `poetry lock` and deploy again.",
            )
        return None

    def index_settings(self) -> str:
        return "the [[tool.poetry.source]] entries, POETRY_HTTP_BASIC_<SOURCE>_USERNAME/PASSWORD"
