"""File trees as comparable values."""

from __future__ import annotations

import hashlib
from pathlib import Path


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of content (+ mode), for every file under `root`."""
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            result[path.relative_to(root).as_posix()] = f"{digest} {path.stat().st_mode & 0o777:o}"
    return result
