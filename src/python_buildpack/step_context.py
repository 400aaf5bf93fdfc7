"""What every build step receives: where things are, the user's settings, and the runner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import process


@dataclass(frozen=True)
class Context:
    app_dir: Path
    layers_dir: Path
    buildpack_dir: Path
    # The user's configuration: platform env files over the process environment, without the
    # variables app/env_checks.py refuses or removes.
    settings: Mapping[str, str]
    # Every program of the build runs through it (a recording fake in the orchestration tests).
    run: process.Runner = field(default=process.run, compare=False)
