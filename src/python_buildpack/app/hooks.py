"""The app's build hooks, `bin/pre_compile` and `bin/post_compile`.

A hook runs with the app dir as working directory and the environment it is given, its
output streamed into the build log. A hook that is not executable (a common result of
committing from Windows or of a lost mode bit) is still run, through the interpreter of its
`#!` line or else `sh`, and the log says so: the classic buildpack made hooks executable
before running them, so apps rely on it.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from .. import output
from ..errors import BuildError
from ..process import Command
from ..step_context import Context

HEADERS = {"pre_compile": "Pre-compile hook", "post_compile": "Post-compile hook"}


def run_hook(ctx: Context, env: Mapping[str, str], name: str) -> bool:
    """Runs `bin/<name>` under its own log section when the app has it; returns whether it ran."""
    path = ctx.app_dir / "bin" / name
    shown = f"bin/{name}"
    if not path.exists():
        return False
    output.header(HEADERS[name])
    if not path.is_file():
        raise BuildError(
            f"{shown} is not a file",
            f"{shown} exists but is not a regular file, so it cannot be run as a build hook.\n"
            f"Make {shown} an executable script, or remove it.",
        )
    with output.timed(f"Running {shown} hook"):
        status = _run(ctx, path, shown, env)
    if status != 0:
        # No copy of the output in the error: it was streamed just above.
        raise BuildError(
            f"{shown} failed ({_describe(status)})",
            f"The build hook {shown} {_describe(status)}; its output is above.\n"
            f"Fix the hook (it runs from the root of the app with the build environment), "
            f"then build again.",
        )
    return True


def _run(ctx: Context, path: Path, shown: str, env: Mapping[str, str]) -> int:
    def stream(command: Command) -> int:
        return ctx.run(command, env, ctx.app_dir, echo=output.raw).returncode

    try:
        try:
            return stream(_command(path, shown))
        except OSError as error:
            if error.errno != errno.ENOEXEC:
                raise
            # Executable without a `#!` line: do what a shell does with such a file.
            output.detail(f"{shown} has no `#!` line: running it with sh")
            return stream(["sh", str(path)])
    except OSError as error:
        raise _start_error(path, shown, error) from error


def _command(path: Path, shown: str) -> list[str]:
    if os.access(path, os.X_OK):
        return [str(path)]
    interpreter = _shebang(path)
    runner = " ".join(interpreter) if interpreter else "sh"
    output.detail(f"{shown} is not executable: running it with {runner} (`chmod +x {shown}` to silence this)")
    return [*(interpreter or ["sh"]), str(path)]


def _shebang(path: Path) -> list[str]:
    """The interpreter and its optional single argument, as the kernel reads a `#!` line."""
    first = _first_line(path)
    if not first.startswith(b"#!"):
        return []
    line = first[2:].decode("utf-8", errors="replace").strip()
    interpreter, _, argument = line.partition(" ")
    argument = argument.strip()
    return [interpreter, argument] if argument else [interpreter] if interpreter else []


def _start_error(path: Path, shown: str, error: OSError) -> BuildError:
    if error.errno == errno.ENOENT and _first_line(path).endswith(b"\r\n"):
        why = "its `#!` line ends with a Windows line ending (CRLF)"
        fix = f"Convert {shown} to Unix line endings (LF), e.g. with `dos2unix {shown}`."
    elif error.errno == errno.ENOENT:
        why = "its interpreter does not exist in the build image"
        fix = f"Change the `#!` line of {shown} to an interpreter that exists, e.g. `#!/usr/bin/env bash`."
    else:
        why = error.strerror or str(error)
        fix = f"Check the file mode and the `#!` line of {shown}."
    return BuildError(f"{shown} could not be started", f"{shown} could not be started: {why}.\n{fix}")


def _first_line(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.readline(256)
    except OSError:
        return b""


def _describe(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        hint = " (the build may have run out of memory)" if -status == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with status {status}"
