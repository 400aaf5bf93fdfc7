"""TOML reading and writing shared by every contract file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older stack interpreters
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return cast(dict[str, Any], tomllib.load(f))


def loads(text: str) -> dict[str, Any]:
    return cast(dict[str, Any], tomllib.loads(text))


def dump(data: dict[str, Any], path: Path) -> None:
    """Writes atomically so a crash never leaves a half-written contract file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    tmp.replace(path)
