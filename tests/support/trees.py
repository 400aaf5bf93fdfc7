"""File trees as comparable values."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of content (+ mode), for every file under `root`."""
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            result[path.relative_to(root).as_posix()] = f"{digest} {path.stat().st_mode & 0o777:o}"
    return result


def entries(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry under `root`: kind, permission bits, and content digest (file) or target (link)."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(root))] = ("link", 0, os.readlink(path))
        elif path.is_dir():
            found[str(path.relative_to(root))] = ("dir", stat.S_IMODE(st.st_mode), "")
        else:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = ("file", stat.S_IMODE(st.st_mode), content)
    return found
