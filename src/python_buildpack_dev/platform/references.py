"""Image references made from directory names and paths, which must be valid references.

A reference's repository is lowercase letters, digits and `._-/` only (go-containerregistry,
which the lifecycle and pack use to parse them). Two engines make references from what a user
chose: the pack engine names an app's image after the app's directory, and the reference
engine's images are named by their path in its OCI layout directory (the lifecycle reads the
run image back as `<layout dir>/index.docker.io/local/run/22.04@sha256:…`), so the layout
directory's own path must be a valid reference. A directory called `App` or `My App`, or a
`--workdir ~/Builds/App`, must not fail the build at export.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

# go-containerregistry's repository characters (name.WeakValidation); lowercase only.
_REFERENCE_PATH = re.compile(r"[a-z0-9._/-]+")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Where the links to layout directories with an invalid path go: a fixed, valid path per user.
LAYOUT_LINKS = Path("/tmp") / f"python-buildpack-layouts-{os.getuid()}"


def named_after(directory: Path, digits: int = 10) -> str:
    """A name for `directory` that is valid in a reference: its name, lowercase, other characters
    as `-`, then a digest of its whole path, so that two directories never share it."""
    directory = directory.resolve()
    slug = _NOT_SLUG.sub("-", directory.name.lower()).strip("-") or "app"
    return f"{slug}-{hashlib.sha256(str(directory).encode()).hexdigest()[:digits]}"


def layout_dir(layout: Path) -> Path:
    """The path the lifecycle gets as `-layout-dir` for the OCI layout directory `layout`: the
    directory itself when its path is a valid reference, else a link to it at a valid path."""
    if _REFERENCE_PATH.fullmatch(str(layout)):
        return layout
    LAYOUT_LINKS.mkdir(mode=0o755, exist_ok=True)
    if LAYOUT_LINKS.is_symlink() or LAYOUT_LINKS.stat().st_uid != os.getuid():
        raise RuntimeError(f"{LAYOUT_LINKS} is not this user's directory: remove it and build again")
    link = LAYOUT_LINKS / named_after(layout)
    if not (link.is_symlink() and link.readlink() == layout):
        link.unlink(missing_ok=True)
        link.symlink_to(layout, target_is_directory=True)
    return link
