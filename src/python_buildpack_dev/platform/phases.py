"""What every engine's build shares: the target it builds for, one lifecycle phase run and what
the build returns (the interface of the emulated, reference and pack engines' builders).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_buildpack.stacks.table import ARCHES


def host_arch() -> str:
    import platform

    return ARCHES.get(platform.machine().lower(), platform.machine())


@dataclass
class ImageTarget:
    """What a platform would read from the run image and pass as CNB_TARGET_* (or a stack id)."""

    distro_name: str = "ubuntu"
    distro_version: str = "22.04"
    arch: str = field(default_factory=host_arch)
    stack_id: str = ""  # set to emulate an older platform that sends CNB_STACK_ID instead

    def env(self) -> dict[str, str]:
        """The lifecycle (Platform API 0.12+) always sends the target; a stack id only besides it."""
        env = {
            "CNB_TARGET_OS": "linux",
            "CNB_TARGET_ARCH": self.arch,
            "CNB_TARGET_DISTRO_NAME": self.distro_name,
            "CNB_TARGET_DISTRO_VERSION": self.distro_version,
        }
        if self.stack_id:
            env["CNB_STACK_ID"] = self.stack_id
        return env


@dataclass
class PhaseResult:
    phase: str
    exit_code: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass
class BuildResult:
    detect: PhaseResult
    build: PhaseResult | None = None
    problems: list[str] = field(default_factory=list)  # spec violations found at export
    phases: list[PhaseResult] = field(default_factory=list)  # every phase run, in order (reference engine)

    @property
    def ok(self) -> bool:
        return self.detect.ok and self.build is not None and self.build.ok and not self.problems

    @property
    def output(self) -> str:
        parts = [p.output for p in self.phases] or [self.detect.output] + ([self.build.output] if self.build else [])
        return "\n".join(parts + self.problems)


def run_phase(
    phase: str,
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    on_output: Callable[[str, str, subprocess.Popen[str]], None],
    **popen: Any,
) -> PhaseResult:
    """Runs one phase, handing each line it prints to `on_output` as it comes."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", **popen)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        on_output(phase, line, proc)
    code = proc.wait()
    return PhaseResult(phase, code, "".join(lines), time.monotonic() - start)


class LaunchError(Exception):
    pass
