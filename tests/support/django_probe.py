"""A stand-in interpreter for Django probes."""

from __future__ import annotations

from pathlib import Path


def wrapper_python(directory: Path, target: Path) -> Path:
    """A `python` in a prefix without lib/: django_installed must ask the interpreter."""
    python = directory / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{target}" "$@"\n')
    python.chmod(0o755)
    return python
