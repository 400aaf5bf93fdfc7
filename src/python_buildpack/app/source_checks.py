"""Checks of the app source that fail early, before anything is downloaded.

- A committed virtual environment (`.venv/` or `venv/` holding `pyvenv.cfg`): its scripts and
  `pyvenv.cfg` name paths of the machine that made it, so it cannot work in the image.
- A committed Python runtime at the classic buildpack's install location (`.heroku/python`,
  `.scalingo/python`). This buildpack itself writes nothing into the app directory (the
  runtime and the venv are layers), so there is no directory of its own to protect.
- A near-miss of a Python version file name (`.python_version`, `runtime.txt `, ...), which
  would otherwise be ignored silently and the app built with another Python.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BuildError

VENV_DIRS = (".venv", "venv")
RUNTIME_DIRS = (".heroku/python", ".scalingo/python")

# File name seen in the wild → the name the buildpack reads.
MISSPELLED_VERSION_FILES: dict[str, str] = {
    name: ".python-version"
    for name in (
        " .python-version",
        ". python-version",
        ".python-version ",
        ",python-version",
        ".python-version.",
        ".python-version.py",
        ".python-version.rtf",
        ".python-version.txt",
        ".python-version.TXT",
        ".Python-version",
        ".PYTHON-VERSION",
        ".python.version",
        ".pythonversion",
        ".python_version",
        ".python_version.txt",
        "'.python-version'",
        "python-version",
        "python-version.",
        "python-version.txt",
        "python_version",
        "python_version.txt",
    )
} | {
    name: "runtime.txt"
    for name in (
        " runtime.txt",
        "runtime.txt ",
        "runtime.txt.txt",
        "Runtime.txt",
        "runtime.TXT",
        "runtime",
        "runtime.text",
    )
}

_LISTED = 12  # entries of a found directory shown in the error


def check_committed_environments(app_dir: Path) -> None:
    for name in VENV_DIRS:
        if (app_dir / name / "pyvenv.cfg").is_file():
            raise BuildError(
                f"The app contains a virtual environment: {name}/",
                f"{name}/ holds a pyvenv.cfg, so it is a Python virtual environment:\n\n"
                f"{_listing(app_dir, name)}\n"
                "A virtual environment only works on the machine that made it (its scripts and "
                "pyvenv.cfg hold that machine's paths); the buildpack installs the dependencies "
                "into a virtual environment of its own. Delete it from the repository and ignore it:\n\n"
                f"    $ git rm -r --cached {name} && echo '{name}/' >> .gitignore\n\n"
                "then commit and deploy again. If a bin/pre_compile hook or an earlier buildpack "
                "creates it, make them use another directory.",
            )
    for name in RUNTIME_DIRS:
        if os.path.lexists(app_dir / name):
            raise BuildError(
                f"The app contains a Python installation: {name}/",
                f"{name}/ is where the classic Python buildpack installed Python; here it comes "
                f"from the app's source:\n\n{_listing(app_dir, name)}\n"
                "This buildpack installs Python into a layer of the image, and a committed copy "
                "only makes the image bigger and confusing. Delete it from the repository and "
                f"ignore it:\n\n    $ git rm -r --cached {name} && echo '{name}/' >> .gitignore\n\n"
                "then commit and deploy again. If a bin/pre_compile hook or an earlier buildpack "
                "creates it, make them use another directory.",
            )


def check_version_file_names(app_dir: Path) -> None:
    """Fails on a misspelled version file; call it when no correctly named one decided."""
    try:
        names = set(os.listdir(app_dir))
    except OSError:
        return
    for found in sorted(names & MISSPELLED_VERSION_FILES.keys()):
        correct = MISSPELLED_VERSION_FILES[found]
        fix = f"    $ git mv {_quote(found)} {correct}\n"
        if correct == "runtime.txt":
            fix = (
                f"runtime.txt is deprecated: better, replace {_quote(found)} with a .python-version "
                "file holding just the version (for example 3.13):\n\n"
                f"    $ git rm {_quote(found)} && echo 3.13 > .python-version\n"
            )
        raise BuildError(
            f"Misspelled Python version file: {found!r}",
            f"The app has a file named {found!r}, which the buildpack does not read: the Python "
            f"version file must be named exactly {correct} (lowercase, no spaces, no extension) "
            f"at the root of the app. Without it the build would use another Python than the "
            f"one you chose. Rename it:\n\n{fix}",
        )


def _quote(name: str) -> str:
    return "'" + name.replace("'", "'\\''") + "'"


def _listing(app_dir: Path, name: str) -> str:
    root = app_dir / name
    entries: list[str] = []
    try:
        for child in sorted(root.iterdir()):
            entries.append(f"    {name}/{child.name}{'/' if child.is_dir() else ''}")
    except OSError:
        entries.append(f"    {name}")
    shown = entries[:_LISTED]
    if len(entries) > _LISTED:
        shown.append(f"    ... ({len(entries) - _LISTED} more)")
    return "\n".join(shown)
