"""The build log: short sections, one line per decision, timings for slow steps.

    ## Python version
       - Using Python 3.12.12 (from .python-version: "3.12")
    ## Installing Python
       - Downloading python-3.12.12-ubuntu-22.04-amd64.tar.zst ... done (1.2s)

Everything goes to stdout; errors and warnings go to stderr so platforms can colour them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

INDENT = "   "
# Every header, step, detail and warning printed, in order: a redeploy with nothing changed
# prints the recorded ones again (redeploy/).
_transcript: list[list[str]] = []
_captures: list[list[list[str]]] = []  # the blocks being captured: their lines are not printed


def position() -> int:
    return len(_transcript)


def transcript(since: int = 0) -> list[list[str]]:
    """What was printed since `position()` returned `since`."""
    return _transcript[since:]


@contextmanager
def captured() -> Iterator[list[list[str]]]:
    """The headers, steps, details and warnings of the block, recorded and not printed."""
    lines: list[list[str]] = []
    _captures.append(lines)
    try:
        yield lines
    finally:
        _captures.pop()


def _say(event: list[str], text: str, stream: TextIO) -> None:
    if _captures:
        _captures[-1].append(event)
        return
    _transcript.append(event)
    print(text, file=stream, flush=True)


def _out() -> TextIO:
    return sys.stdout


def header(title: str) -> None:
    _say(["header", title], f"\n## {title}", _out())


def step(message: str) -> None:
    _say(["step", message], f"{INDENT}- {message}", _out())


def detail(message: str) -> None:
    _say(["detail", message], f"{INDENT}  {message}", _out())


def raw(text: str) -> None:
    """Output of a subprocess, indented so it reads as part of the current step."""
    for line in text.splitlines():
        print(f"{INDENT}  {line}", file=_out())
    _out().flush()


def warning(title: str, details: str = "") -> None:
    lines = [f"\n{INDENT}! Warning: {title}"]
    if details:
        lines += [f"{INDENT}! {line}" if line else f"{INDENT}!" for line in _wrap(details)]
    _say(["warning", title, details], "\n".join(lines), sys.stderr)


def error(title: str, details: str = "") -> None:
    lines = [f"\n! Error: {title}"]
    if details:
        lines.append("!")
        lines += [f"! {line}" if line else "!" for line in _wrap(details)]
    print("\n".join(lines) + "\n", file=sys.stderr, flush=True)


def _wrap(text: str) -> list[str]:
    import textwrap  # here: only errors and warnings wrap, and a replayed build prints neither

    out: list[str] = []
    for paragraph in text.strip().split("\n"):
        if paragraph.startswith(("    ", "$ ")) or not paragraph.strip():
            out.append(paragraph.rstrip())  # code samples and blank lines stay as written
        else:
            # Not at hyphens: file names such as .python-version must stay whole.
            out += textwrap.wrap(paragraph, width=88, break_on_hyphens=False) or [""]
    return out


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m {seconds % 60:.0f}s"


@contextmanager
def timed(message: str) -> Iterator[None]:
    """Prints `message ...`, runs the block, then `done (1.2s)` on the same logical step."""
    print(f"{INDENT}- {message} ...", file=_out(), flush=True)
    start = time.monotonic()
    yield
    detail(f"done ({format_duration(time.monotonic() - start)})")
