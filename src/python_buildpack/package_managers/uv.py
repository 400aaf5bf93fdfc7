"""uv: `uv sync --locked --no-default-groups` from uv.lock into the app's venv.

UV_PROJECT_ENVIRONMENT points uv at the venv we created from the runtime; uv never downloads
a Python of its own here. `--locked` fails when uv.lock no longer matches pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ..app.digests import digests
from ..files import bytecode
from ..layers.tools import ToolInstall
from ..process import Completed
from .base import Installer


def prune_command(tool: ToolInstall) -> list[str | Path]:
    """uv's pruning for caches that CI restores at every run: the wheels it built from source
    stay, the pre-built wheels it keeps unzipped (tens of thousands of files in a large app,
    which the lifecycle's restorer would write back at every build) go; downloading one again
    on the next install costs less than restoring them all at every build."""
    return [tool.executable(), "cache", "prune", "--ci"]  # run in the app dir, as the install


class Uv(Installer):
    name = "uv"
    cache_env_var = "UV_CACHE_DIR"
    project_file = "pyproject.toml"
    lock_file = "uv.lock"
    lock_command = "uv lock"
    updates_in_place = True
    out_of_sync = (r"needs to be updated, but `--locked` was provided",)

    def inputs(self, app_dir: Path) -> dict[str, str]:
        # uv.toml is the project's uv configuration (indexes, sources).
        return digests(app_dir, ("pyproject.toml", "uv.lock", "uv.toml"))

    def commands(self, tool: ToolInstall, venv: Path) -> list[list[str | Path]]:
        return [self.sync_command(tool, venv)]

    def compile_command(self, venv: Path) -> list[str | Path] | None:
        # files/bytecode.py rather than `--compile-bytecode`: it skips the packages' test suites.
        return bytecode.venv_missing(venv)

    def cache_prune_command(self, tool: ToolInstall) -> list[str | Path] | None:
        return prune_command(tool)

    def sync_command(self, tool: ToolInstall, venv: Path) -> list[str | Path]:
        """`uv sync`, without byte-code (`compile_command`)."""
        return [
            tool.executable(),
            "sync",
            "--locked",
            *self._groups(),
            "--no-progress",
            "--python",
            venv / "bin" / "python",
        ]

    def export_command(self, tool: ToolInstall, venv: Path, output: Path) -> list[str | Path]:
        """What `uv sync` installs, as pinned requirements (with markers) into `output`: local
        packages (the project, path dependencies) left out, since they have no version to compare."""
        options = ["--no-hashes", "--no-header", "--no-annotate", "--no-emit-local", "--quiet"]
        return [tool.executable(), "export", "--locked", *self._groups(), *options, "--format", "requirements.txt",
                "--python", venv / "bin" / "python", "--output-file", output]  # fmt: skip

    def _groups(self) -> list[str]:
        return [] if self.dev else ["--no-default-groups"]  # uv's default groups: `dev`

    def environment(self, env: Mapping[str, str], venv: Path, app_dir: Path) -> dict[str, str]:
        result = super().environment(env, venv, app_dir)
        result.pop("UV_FROZEN", None)  # would contradict --locked
        result.update({"UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"})
        # Copies, not hard links into the cache layer: the venv layer must stand on its own.
        result.setdefault("UV_LINK_MODE", "copy")
        return result

    def python_mismatch(self, result: Completed, version: str, advice: Callable[[str], str]) -> tuple[str, str] | None:
        # "... resolved to Python 3.11.7, which is incompatible with the project's Python
        # requirement: `==3.12.*` (from `project.requires-python`)", or against the lock's.
        refused = result.matches(
            r"(?:incompatible with the project's|not compatible with the locked) Python requirement: `([^`]+)`"
        )
        if not refused:
            return None
        requirement = refused.group(1)
        return (
            f"pyproject.toml does not allow Python {version}",
            f"The project's requires-python is {requirement}, so uv refused to install with Python "
            f"{version}. {advice(f'that matches {requirement}')} Or widen requires-python, run "
            "`uv lock` and deploy again.",
        )

    def index_settings(self) -> str:
        return "the [[tool.uv.index]] entries, UV_INDEX_URL, UV_INDEX_<NAME>_USERNAME/PASSWORD"
