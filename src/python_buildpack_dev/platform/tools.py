"""The reference CNB tools `dev/setup` builds into `.tools/bin`: the lifecycle, its launcher and pack.

The reference engine runs the lifecycle's phases; the pack engine puts the same lifecycle into
its builders and runs pack.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parents[3] / ".tools" / "bin"


@dataclass(frozen=True)
class ReferenceTools:
    lifecycle: Path
    launcher: Path
    pack: Path | None

    @classmethod
    def find(cls, directory: Path = TOOLS_DIR) -> ReferenceTools | None:
        lifecycle, launcher, pack = directory / "lifecycle", directory / "launcher", directory / "pack"
        if not (os.access(lifecycle, os.X_OK) and os.access(launcher, os.X_OK)):
            return None
        return cls(lifecycle, launcher, pack if os.access(pack, os.X_OK) else None)

    def version(self) -> str:
        done = subprocess.run([str(self.lifecycle), "-version"], capture_output=True, text=True, check=False)
        return done.stdout.strip() or "unknown"
