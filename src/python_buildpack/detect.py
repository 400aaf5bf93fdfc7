"""Detect: pass when the app root has one of the files that declare Python dependencies.

Runs for every app a platform builds, so it imports nothing but `os` and `sys` (no pathlib,
dataclasses or typing: they would double its start-up time) and reads nothing but names in
the app root. It never writes to the app dir. lib/detect.sh is the same decision in sh.
"""

import os
import sys

DETECT_FILES = ("Pipfile", "requirements.txt", "poetry.lock", "uv.lock")

PASS, FAIL, ERROR = 0, 100, 1

# The build plan is constant, so it is written as text: no TOML writer import needed.
BUILD_PLAN = '[[provides]]\nname = "python"\n\n[[requires]]\nname = "python"\n'


def detected_files(app_dir: str) -> "list[str]":
    found = []
    for name in DETECT_FILES:
        try:
            if os.path.isfile(os.path.join(app_dir, name)):
                found.append(name)
        except (OSError, ValueError):  # unreadable entry, over-long name: treat as absent
            continue
    return found


def main() -> int:
    plan_path = os.environ.get("CNB_BUILD_PLAN_PATH", "")
    if not plan_path:
        print(
            "Error: CNB_BUILD_PLAN_PATH is not set: this program is a buildpack phase and must be run by a "
            "CNB lifecycle (pack, a platform, or `python -m python_buildpack.lifecycle`).",
            file=sys.stderr,
        )
        return ERROR
    found = detected_files(os.getcwd())
    if not found:
        print("No Python app detected: none of " + ", ".join(DETECT_FILES) + " is at the root of the app.")
        return FAIL
    try:
        with open(plan_path, "w", encoding="utf-8") as plan:
            plan.write(BUILD_PLAN)
    except OSError as error:
        print(f"Error: cannot write the build plan {plan_path}: {error}", file=sys.stderr)
        return ERROR
    print(f"Python app detected ({', '.join(found)})")
    return PASS
