"""Detect: pass when the app root has one of the files that declare Python dependencies.

Runs for every app a platform builds, so it imports nothing but `os` and `sys` (no pathlib,
dataclasses or typing: they would double its start-up time) and reads nothing but names in
the app root. It never writes to the app dir. lib/detect.sh is the same decision in sh.
"""

import os
import sys

DETECT_FILES = ("Pipfile", "requirements.txt", "poetry.lock", "uv.lock")

# Project files that do not declare installable dependencies on their own: what is missing.
_WITH_PIP = "no requirements.txt: add one holding the line `.` (pip then installs the project and its dependencies)"
PROJECT_FILES = (
    ("pyproject.toml", "no uv.lock or poetry.lock: run `uv lock` or `poetry lock` and commit the lock file"),
    ("setup.py", _WITH_PIP),
    ("setup.cfg", _WITH_PIP),
)

PASS, FAIL, ERROR = 0, 100, 1

# The build plan is constant, so it is written as text: no TOML writer import needed.
BUILD_PLAN = '[[provides]]\nname = "python"\n\n[[requires]]\nname = "python"\n'


def _is_file(app_dir: str, name: str) -> bool:
    try:
        return os.path.isfile(os.path.join(app_dir, name))
    except (OSError, ValueError):  # unreadable entry, over-long name: treat as absent
        return False


def detected_files(app_dir: str) -> "list[str]":
    return [name for name in DETECT_FILES if _is_file(app_dir, name)]


def not_detected(app_dir: str) -> str:
    """Why detect fails: the project file seen and what is missing, else what was looked for."""
    for name, missing in PROJECT_FILES:
        if _is_file(app_dir, name):
            return f"No Python app detected: {name} found but {missing}."
    return "No Python app detected: none of " + ", ".join(DETECT_FILES) + " is at the root of the app."


def main() -> int:
    plan_path = os.environ.get("CNB_BUILD_PLAN_PATH", "")
    if not plan_path:
        print(
            "Error: CNB_BUILD_PLAN_PATH is not set: this program is a buildpack phase and must be run by a "
            "CNB lifecycle (pack, a platform, or the local-lifecycle of the buildpack's repository).",
            file=sys.stderr,
        )
        return ERROR
    found = detected_files(os.getcwd())
    if not found:
        print(not_detected(os.getcwd()))
        return FAIL
    try:
        with open(plan_path, "w", encoding="utf-8") as plan:
            plan.write(BUILD_PLAN)
    except OSError as error:
        print(f"Error: cannot write the build plan {plan_path}: {error}", file=sys.stderr)
        return ERROR
    print(f"Python app detected ({', '.join(found)})")
    return PASS
