"""A runtime catalogue for the mirror's archives (the format docs/distribution.md describes)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import tomli_w


def write_catalog(
    path: Path,
    stacks: Mapping[str, Mapping[str, str]],
    default: str,
    artifacts: Mapping[str, str] | None = None,
) -> Path:
    """Writes a runtime catalogue (issue 3 format) for `BP_PYTHON_RUNTIME_CATALOG`.

    `stacks`: {"scalingo-22": {"3.11": "3.11.7"}}; `artifacts`: {archive file name: sha256}.
    """
    data: dict[str, object] = {
        "default": default,
        "stacks": {stack: dict(versions) for stack, versions in stacks.items()},
    }
    if artifacts:
        data["artifacts"] = [{"file": name, "sha256": digest} for name, digest in sorted(artifacts.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path
