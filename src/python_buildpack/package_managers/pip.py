"""pip: `pip install -r requirements.txt` into the app's venv.

The pinned pip of the `pip` tool layer does the install, run by the venv's interpreter (what
pip's `--python` option does, without a second interpreter start). The venv holds no pip but
finds one (pip_seed.py): build hooks and one-off commands that run `pip` act on the app's
venv, as they did with the classic buildpack, with the pinned pip while building and the
runtime's own in the container.

The venv is reused while its inputs are unchanged: requirements.txt, the files it includes
(`-r`, `-c`), and local path requirements (an editable package's build files, a non-editable
directory's whole tree, a wheel or archive file, a `--find-links` directory).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

from ..app.digests import file_digest, tree_digest
from ..files import bytecode
from ..layers.tools import ToolInstall
from ..process import Completed
from . import pip_seed
from .base import Installer

REQUIREMENTS = "requirements.txt"
DEV_REQUIREMENTS = "requirements-test.txt"  # installed too with BP_PYTHON_INSTALL_DEV_DEPENDENCIES

_INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")
_EDITABLE_OPTIONS = ("-e", "--editable")
_FIND_LINKS_OPTIONS = ("-f", "--find-links")
# What an editable install depends on beyond its (live) source files.
_BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2")
_COMMENT = re.compile(r"(^|\s+)#.*$")


class Pip(Installer):
    name = "pip"
    cache_env_var = "PIP_CACHE_DIR"
    updates_in_place = True

    dev_requirements = False  # requirements-test.txt exists and development dependencies are wanted

    def for_development(self, app_dir: Path) -> Pip:
        development = copy.copy(self)
        development.dev = True
        development.dev_requirements = (app_dir / DEV_REQUIREMENTS).is_file()
        return development

    def inputs(self, app_dir: Path) -> dict[str, str]:
        found: dict[str, str] = {}
        seen: set[Path] = set()
        _scan(app_dir / REQUIREMENTS, app_dir, found, seen)
        if self.dev_requirements:
            _scan(app_dir / DEV_REQUIREMENTS, app_dir, found, seen)
        return found

    def prepare(self, tool: ToolInstall, venv: Path) -> str | None:
        return pip_seed.describe(tool.version, pip_seed.seed(venv, tool.pip_main))

    def commands(self, tool: ToolInstall, venv: Path) -> list[list[str | Path]]:
        python = venv / "bin" / "python"
        options = ["--no-input", "--disable-pip-version-check", "--root-user-action=ignore", "--progress-bar=off"]
        # `--no-compile`: pip compiles file by file in its one process; compile_command uses every core.
        install: list[str | Path] = [python, tool.pip_main, "install", *options, "--no-compile"]
        return [[*install, *(option for name in self.requirement_files() for option in ("-r", name))]]

    def compile_command(self, venv: Path) -> list[str | Path] | None:
        # Checked-hash, as pip writes it under SOURCE_DATE_EPOCH (environment.py); only what
        # lacks byte-code: an updated venv's earlier packages have it.
        return bytecode.venv_missing(venv)

    def requirement_files(self) -> list[str]:
        """The requirements files installed, in order (relative to the app dir)."""
        return [REQUIREMENTS, DEV_REQUIREMENTS] if self.dev_requirements else [REQUIREMENTS]

    def python_mismatch(self, result: Completed, version: str, advice: Callable[[str], str]) -> tuple[str, str] | None:
        package = result.matches(r"Package '([^']+)' requires a different Python: \S+ not in '([^']+)'")
        if package:
            name, requirement = package.groups()
            return (
                f"{name} does not support Python {version}",
                f"{name} requires Python {requirement}, so pip refused to install it with Python "
                f"{version}. {advice(f'that matches {requirement}')} Or require a release of {name} "
                f"that supports Python {version} in {REQUIREMENTS}.",
            )
        if not result.matches(r"Requires-Python|requires a different Python"):
            return None
        wanted = advice("that every requirement supports")
        return (
            f"A requirement does not support Python {version}",
            f"pip found no release of a package that supports Python {version} (see the output "
            f"above: the versions it ignored name the Python they require). {wanted} Or require a "
            f"release of the package that supports Python {version} in {REQUIREMENTS}.",
        )

    def generic_failure(self, result: Completed, files: str) -> tuple[str, str]:
        missing = result.matches(r"No matching distribution found for (\S+)")
        if missing:
            return (
                f"No matching distribution found for {missing.group(1)}",
                f"pip could not find {missing.group(1)} on the package index (see the output "
                f"above). Check its name and version in {files}, and that the release exists for "
                "this Python version and platform. Packages from a private index need its URL "
                "in the app's environment (PIP_INDEX_URL or PIP_EXTRA_INDEX_URL), and that index "
                "must be reachable from the platform.",
            )
        invalid = result.matches(r"Invalid requirement: (.*)$")
        if invalid:
            return (
                f"Invalid line in {files}",
                f"pip cannot parse {invalid.group(1).strip()} (see the output above). Each line of "
                f"{files} is a requirement such as `flask==3.1.0`, an option such as `-r other.txt`, "
                "or a comment starting with #. Fix the line and deploy again.",
            )
        if result.matches(r"ResolutionImpossible|conflicting dependencies"):
            return (
                f"The requirements in {files} conflict",
                "pip found no set of versions that satisfies every requirement at once (see the "
                f"output above, which names the conflicting packages). Relax or align the versions "
                f"in {files} and deploy again.",
            )
        return super().generic_failure(result, files)


def _scan(path: Path, app_dir: Path, found: dict[str, str], seen: set[Path]) -> None:
    """Adds a requirements file and what it refers to; missing files are pip's to report."""
    resolved = path.resolve()
    if resolved in seen or not path.is_file():
        return
    seen.add(resolved)
    found[_label(path, app_dir)] = file_digest(path)
    for tokens in _logical_lines(path):
        option, value = _split_option(tokens)
        if option in _INCLUDE_OPTIONS and value:
            _scan(path.parent / value, app_dir, found, seen)
        elif option in _EDITABLE_OPTIONS and value:
            _local(value, app_dir, found, editable=True)
        elif option in _FIND_LINKS_OPTIONS and value:
            _local(value, app_dir, found, editable=False)
        elif option is None and tokens:
            _local(_requirement_location(" ".join(tokens)), app_dir, found, editable=False)


def _logical_lines(path: Path) -> list[list[str]]:
    lines: list[list[str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = _COMMENT.sub("", line).strip()
        if line:
            lines.append(line.split())
    return lines


def _split_option(tokens: list[str]) -> tuple[str | None, str]:
    first = tokens[0]
    if not first.startswith("-"):
        return None, ""
    if "=" in first and first.startswith("--"):
        option, _, value = first.partition("=")
        return option, value
    for short in ("-r", "-c", "-e", "-f"):
        if first.startswith(short) and len(first) > 2:  # `-rother.txt`
            return short, first[2:]
    return first, tokens[1] if len(tokens) > 1 else ""


def _requirement_location(requirement: str) -> str:
    """The local path a requirement points to, or "" for index and remote requirements."""
    requirement = requirement.split(";")[0].strip()
    if " @ " in requirement or "@file:" in requirement:
        requirement = requirement.split("@", 1)[1].strip()
    return requirement


def _local(value: str, app_dir: Path, found: dict[str, str], *, editable: bool) -> None:
    if value.startswith("file:"):
        value = re.sub(r"^file:(//)?", "", value)
    elif "://" in value or "+" in value.split("/")[0]:
        return  # a URL or a VCS requirement: its content is not on disk
    if not value.startswith((".", "/")) and "/" not in value and not value.endswith(_ARCHIVES):
        return  # a plain `name==version` requirement
    path = (app_dir / value.split("#")[0].split("[")[0]).resolve()
    if path.is_file():
        found[_label(path, app_dir)] = file_digest(path)
    elif path.is_dir() and editable:
        for name in _BUILD_FILES:
            if (path / name).is_file():
                found[_label(path / name, app_dir)] = file_digest(path / name)
    elif path.is_dir():
        found[_label(path, app_dir) + "/"] = tree_digest(path)


def _label(path: Path, app_dir: Path) -> str:
    resolved, app = path.resolve(), app_dir.resolve()
    try:
        return resolved.relative_to(app).as_posix()
    except ValueError:
        return str(resolved)
