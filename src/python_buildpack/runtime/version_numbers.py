"""Python version numbers as the build writes them: a major `3.12` or a full `3.12.1`.

A leaf module: the catalogue, the version files and the version policy all compare versions.
"""

from __future__ import annotations

import re

# ASCII digits only (`\d` would accept other scripts' digits), no leading zeros, bounded length
# so that int() stays cheap whatever the input.
_PART = r"(?:0|[1-9][0-9]{0,8})"
MAJOR_RE = re.compile(rf"{_PART}\.{_PART}")
FULL_RE = re.compile(rf"{_PART}\.{_PART}\.{_PART}")


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a version already checked against MAJOR_RE or FULL_RE."""
    return tuple(int(part) for part in version.split("."))


def major_of(full: str) -> str:
    return full.rsplit(".", 1)[0]
