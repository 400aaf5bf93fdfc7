"""pipenv: `pipenv install --deploy` from Pipfile.lock into the app's venv.

Deploy mode refuses a Pipfile.lock whose hash does not match the Pipfile (and a Python
version other than the Pipfile's `python_version`). pipenv installs into the active virtual
environment named by VIRTUAL_ENV, with its own bundled pip, so the venv needs no pip.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from ..app.digests import digests
from ..cnb import toml_io
from ..errors import BuildError
from ..layers.tools import ToolInstall
from ..process import Completed
from .base import Installer

# pipenv prints its own traceback around deploy errors, each line prefixed like this.
_TRACEBACK_LINE = re.compile(r"^\[[A-Za-z]+(Exception|Error)\]:")


class Pipenv(Installer):
    name = "pipenv"
    cache_env_var = "PIPENV_CACHE_DIR"
    project_file = "Pipfile"
    lock_file = "Pipfile.lock"
    lock_command = "pipenv lock"
    out_of_sync = (r"Pipfile\.lock \([0-9a-f]+\) is out of date",)

    def inputs(self, app_dir: Path) -> dict[str, str]:
        _check_pipfile(app_dir / "Pipfile")
        return digests(app_dir, ("Pipfile", "Pipfile.lock"))

    def commands(self, tool: ToolInstall, venv: Path) -> list[list[str | Path]]:
        return [[tool.executable(), "install", "--deploy", *(["--dev"] if self.dev else [])]]

    def environment(self, env: Mapping[str, str], venv: Path, app_dir: Path) -> dict[str, str]:
        result = super().environment(env, venv, app_dir)
        for name in ("PIPENV_IGNORE_VIRTUALENVS", "PIPENV_VENV_IN_PROJECT", "PIPENV_CUSTOM_VENV_NAME"):
            result.pop(name, None)  # they would make pipenv install into another venv
        result.update(
            {
                "PIPENV_PIPFILE": str(app_dir / "Pipfile"),  # not a Pipfile found in a parent dir
                "PIPENV_VERBOSITY": "-1",  # no "courtesy notice" about the active venv
                "PIPENV_NOSPIN": "1",
                "PIPENV_YES": "1",
                "PIPENV_DONT_LOAD_ENV": "1",
                "COLUMNS": "1000",  # pipenv wraps its messages (and traceback lines) to this width
            }
        )
        return result

    def hide_line(self, line: str) -> bool:
        return bool(_TRACEBACK_LINE.match(line))

    def python_mismatch(self, result: Completed, version: str, advice: Callable[[str], str]) -> tuple[str, str] | None:
        # 'Warning: Your Pipfile requires "python_version" 3.12, but you are using 3.11.7 from ...'
        refused = result.matches(r"Pipfile requires \W?(python_(?:full_)?version)\W? ([^\s,]+)")
        if not refused:
            return None
        key, required = refused.groups()
        return (
            f"The Pipfile requires Python {required}",
            f"The Pipfile's [requires] {key} is {required}, so pipenv refused to install with Python "
            f"{version}. {advice(f'that matches {required}')} Or change {key} in the Pipfile, run "
            "`pipenv lock` and deploy again.",
        )

    def index_settings(self) -> str:
        return "the [[source]] entries of the Pipfile, PIPENV_PYPI_MIRROR"


def _check_pipfile(path: Path) -> None:
    """pipenv answers a Pipfile that is not TOML with a long traceback: say what is wrong instead."""
    try:
        toml_io.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, toml_io.TOMLDecodeError) as error:
        raise BuildError(
            "Pipfile is not valid TOML",
            f"Pipfile cannot be parsed: {error}. Fix the syntax (`pipenv lock` reports the same "
            "problem where you develop the app), run `pipenv lock` and commit both files.",
        ) from None
