"""Detect: pass when the app root has one of the files that declare Python dependencies.

Runs for every app a platform builds, so it is stdlib-only and reads nothing but names in
the app root. It never writes to the app dir.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cnb.context import ContractError, DetectContext

DETECT_FILES = ("Pipfile", "requirements.txt", "poetry.lock", "uv.lock")

PASS, FAIL, ERROR = 0, 100, 1

# The build plan is constant, so it is written as text: no TOML writer import needed.
BUILD_PLAN = '[[provides]]\nname = "python"\n\n[[requires]]\nname = "python"\n'


def detected_files(app_dir: Path) -> list[str]:
    found = []
    for name in DETECT_FILES:
        try:
            if (app_dir / name).is_file():
                found.append(name)
        except OSError:  # unreadable entry, over-long name: treat as absent
            continue
    return found


def main() -> int:
    try:
        ctx = DetectContext.from_env()
    except ContractError as error:
        print(f"Error: {error}", file=sys.stderr)
        return ERROR
    found = detected_files(ctx.app_dir)
    if not found:
        print(
            "No Python app detected: none of "
            + ", ".join(DETECT_FILES)
            + " is at the root of the app.",
        )
        return FAIL
    try:
        ctx.build_plan_path.write_text(BUILD_PLAN, encoding="utf-8")
    except OSError as error:
        print(f"Error: cannot write the build plan {ctx.build_plan_path}: {error}", file=sys.stderr)
        return ERROR
    print(f"Python app detected ({', '.join(found)})")
    return PASS
