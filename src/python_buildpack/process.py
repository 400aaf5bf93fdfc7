"""The one way the build runs a program: its output streamed into the build log as it comes,
a tail kept for errors, the program killed if the build is interrupted.

Steps receive the runner (`Runner`) rather than calling `run` themselves, so that the build's
orchestration can be tested with a recording fake (tests/unit/test_orchestration.py).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import output

# Lines of a failed program's output kept for its error when the output was not streamed.
TAIL_LINES = 25

Command = Sequence[str | Path]
# Where streamed lines go: indented under the step (installers), or as they are (hooks).
Echo = Callable[[str], None]


def _never(_: str) -> bool:
    return False


@dataclass
class Completed:
    returncode: int
    lines: list[str] = field(default_factory=list)

    def tail(self, keep: Callable[[str], bool] = lambda _: True) -> str:
        kept = [line for line in self.lines if line.strip() and keep(line)]
        return "\n".join(kept[-TAIL_LINES:])

    def matches(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, "\n".join(self.lines), re.IGNORECASE | re.MULTILINE)


class Runner(Protocol):
    """What steps call to run a program: `run` below, or a recording fake in tests. Raises
    OSError when the program cannot start (callers say what that means)."""

    def __call__(self, cmd: Command, env: Mapping[str, str], cwd: Path, *,
                 echo: Echo | None = ..., hide: Callable[[str], bool] = ...) -> Completed: ...  # fmt: skip


def run(
    cmd: Command,
    env: Mapping[str, str],
    cwd: Path,
    *,
    echo: Echo | None = output.detail,
    hide: Callable[[str], bool] = _never,
) -> Completed:
    """Runs `cmd` with stdout and stderr merged; each line goes to `echo` (unless `hide`s it)."""
    proc = subprocess.Popen(
        [str(part) for part in cmd],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            lines.append(line)
            if echo is not None and not hide(line):
                echo(line)
    except BaseException:
        # An interrupted build (SIGTERM, Ctrl-C) must not leave the program writing into a
        # layer that the clean-up is about to remove or put back.
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
    return Completed(proc.wait(), lines)
