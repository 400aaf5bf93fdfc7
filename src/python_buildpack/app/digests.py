"""Digests of the app's files: what a cached venv's reuse depends on (a leaf module)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


# Never part of what a local package's build depends on.
TREE_SKIP = {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".mypy_cache", ".pytest_cache"}


def tree_digest(root: Path) -> str:
    """Digest of a directory's files (paths, modes and contents), for local path requirements."""
    digest = hashlib.sha256()
    for line in tree_entries(root):
        digest.update(line)
    return digest.hexdigest()


def tree_entries(root: Path) -> Iterator[bytes]:
    """A line per file or link of a directory, in a stable order: its path, and its mode and
    content's digest or its target (the directories of TREE_SKIP and `*.egg-info` left out)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in TREE_SKIP and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                yield f"L {rel} {os.readlink(path)}\n".encode()
            elif path.is_file():
                yield f"F {rel} {os.access(path, os.X_OK)} {file_digest(path)}\n".encode()


def digests(app_dir: Path, names: Iterable[str]) -> dict[str, str]:
    """Digests of the given app files that exist."""
    return {name: file_digest(app_dir / name) for name in names if (app_dir / name).is_file()}
