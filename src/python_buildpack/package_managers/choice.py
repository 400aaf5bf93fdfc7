"""Which package manager installs the app's dependencies (README, "Package managers").

The first complete entry of this order wins:

    1. Pipfile + Pipfile.lock   → pipenv
    2. requirements.txt         → pip
    3. poetry.lock + pyproject.toml → poetry
    4. uv.lock + pyproject.toml → uv

Files of the other entries are ignored and named in the build log. An incomplete entry
(a Pipfile without its lock, a lock without pyproject.toml) is an error only when nothing
later in the order applies; otherwise it is reported with the ignored files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError
from ..tool_versions import Tool


@dataclass(frozen=True)
class _Entry:
    manager: Tool
    signal: str  # the file that says "this app uses <manager>"
    needs: str  # the file it cannot work without
    missing_fix: str  # how to fix a missing `needs`


ORDER = (
    _Entry(
        "pipenv",
        "Pipfile",
        "Pipfile.lock",
        "Run `pipenv lock` and commit Pipfile.lock: builds install exactly what the lock file "
        "lists, so that every build of the same commit gets the same packages.",
    ),
    _Entry("pip", "requirements.txt", "requirements.txt", ""),
    _Entry(
        "poetry",
        "poetry.lock",
        "pyproject.toml",
        "Commit the pyproject.toml that poetry.lock was generated from (poetry cannot install "
        "from the lock file alone), or delete poetry.lock if the app does not use Poetry.",
    ),
    _Entry(
        "uv",
        "uv.lock",
        "pyproject.toml",
        "Commit the pyproject.toml that uv.lock was generated from (uv cannot install from the "
        "lock file alone), or delete uv.lock if the app does not use uv.",
    ),
)

ORDER_TEXT = "Pipfile + Pipfile.lock (pipenv), requirements.txt (pip), poetry.lock (poetry), uv.lock (uv)"


@dataclass(frozen=True)
class Choice:
    manager: Tool
    files: tuple[str, ...]  # what this manager installs from, e.g. ("Pipfile", "Pipfile.lock")
    ignored: tuple[str, ...]  # files of the other package managers, in order
    incomplete: tuple[str, ...] = ()  # ignored entries that looked meant, with why


def choose(app_dir: Path) -> Choice:
    present = {name for name in _names() if _is_file(app_dir / name)}
    chosen: _Entry | None = None
    incomplete: list[tuple[_Entry, str]] = []
    for entry in ORDER:
        if entry.signal not in present:
            continue
        if entry.needs not in present:
            incomplete.append((entry, f"{entry.signal} without {entry.needs}"))
            continue
        chosen = entry
        break
    if chosen is None:
        if incomplete:
            entry, what = incomplete[0]
            raise BuildError(f"{entry.signal} found without {entry.needs}", f"The app has {what}. {entry.missing_fix}")
        raise BuildError(
            "No dependency file found",
            _no_file_details("pyproject.toml" in present),
        )
    files = tuple(dict.fromkeys((chosen.signal, chosen.needs)))
    ignored = tuple(
        name
        for entry in ORDER
        if entry is not chosen
        for name in (entry.signal, entry.needs)
        if name in present and name not in files and entry.signal in present
    )
    return Choice(chosen.manager, files, tuple(dict.fromkeys(ignored)), tuple(what for _, what in incomplete))


def _names() -> list[str]:
    return list(dict.fromkeys(name for entry in ORDER for name in (entry.signal, entry.needs)))


def _is_file(path: Path) -> bool:
    """Whether a dependency file is there. A directory of that name does not count; a device, a
    FIFO or a broken link in its place is a mistake worth a stop."""
    try:
        if path.is_file():
            return True
        if path.is_dir() or not os.path.lexists(path):
            return False
    except OSError:
        pass
    what = "a broken symbolic link" if path.is_symlink() and not path.exists() else "not a regular file"
    raise BuildError(
        f"{path.name} is {what}",
        f"{path.name} at the root of the app is {what}, so it cannot be read as a dependency file. "
        f"Replace it with the file itself (as committed in the app's repository), or delete it.",
    )


def _no_file_details(has_pyproject: bool) -> str:
    hint = (
        "The app has a pyproject.toml but no lock file: run `poetry lock` or `uv lock` and commit "
        "the lock file, or list the dependencies in requirements.txt."
        if has_pyproject
        else "Add a requirements.txt (an empty one if the app needs no packages), or use pipenv, "
        "Poetry or uv and commit their lock file."
    )
    return f"The root of the app has none of: {ORDER_TEXT}. {hint}"
