"""Launch processes: the app's `Procfile`, else a default `web` process for Django + gunicorn.

Commands run through `bash -c` because the launcher (Buildpack API 0.9+) runs commands
directly, with no shell: without one `$PORT` would reach the server literally. bash, not sh:
Procfiles are written for the classic platform, which ran them with bash, and bash is an
essential package on every Ubuntu run image.

Default process: `web` when there is one; otherwise the only process, when there is exactly
one; otherwise none (with several non-web processes the platform must pick one by name).
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import output
from ..cnb.models import Process
from ..errors import BuildError
from .django import django_project

PROCFILE = "Procfile"
SHELL = ("bash", "-c")
# The CNB process type alphabet: letters, digits, `.`, `_` and `-`.
_LINE = re.compile(r"^(?P<type>[^:\s]*)\s*:\s*(?P<command>.*)$")
_TYPE = re.compile(r"^[A-Za-z0-9_.-]+$")


def shell_process(process_type: str, command: str, *, default: bool = False) -> Process:
    return Process(type=process_type, command=[*SHELL, command], default=default)


def parse_procfile(data: bytes, name: str = PROCFILE) -> list[Process]:
    """Processes of a Procfile's content, in file order, with the default chosen as above."""
    text = _decode(data, name)
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise _error(name, number, raw, "this line has no `type: command` form")
        process_type, command = match["type"], match["command"].strip()
        if not process_type:
            raise _error(name, number, raw, "the line has no process type before the ':'")
        if not _TYPE.match(process_type):
            raise _error(
                name, number, raw,
                f"the process type {process_type!r} may only contain letters, digits, '.', '_' and '-'",
            )
        if process_type in entries:
            raise _error(name, number, raw, f"the process type {process_type!r} is defined twice")
        if not command:
            raise _error(name, number, raw, f"the process type {process_type!r} has no command")
        entries[process_type] = command
    default = "web" if "web" in entries else (next(iter(entries)) if len(entries) == 1 else None)
    return [shell_process(t, c, default=t == default) for t, c in entries.items()]


def read_procfile(app_dir: Path) -> list[Process] | None:
    """The Procfile's processes, or None when the app has no Procfile."""
    path = app_dir / PROCFILE
    if not path.exists() and not path.is_symlink():
        return None
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BuildError(
            f"Cannot read the {PROCFILE}",
            f"{PROCFILE} at the root of the app could not be read ({error.strerror or error}).\n"
            f"It must be a regular text file with one `type: command` line per process.",
        ) from error
    return parse_procfile(data)


def default_processes(app_dir: Path, has_gunicorn: bool) -> tuple[list[Process], str]:
    """Processes for an app without Procfile, and the log line that explains them."""
    project = django_project(app_dir)
    if project is None:
        return [], (
            f"No {PROCFILE} found: the image has no process. Add a {PROCFILE} at the root of the "
            "app, for example `web: gunicorn myproject.wsgi --bind 0.0.0.0:$PORT`."
        )
    if not has_gunicorn:
        return [], (
            f"No {PROCFILE} found and gunicorn is not installed: the image has no process. "
            f"Add gunicorn to the dependencies, or add a {PROCFILE} with a `web` process."
        )
    command = f"gunicorn {project}.wsgi --bind 0.0.0.0:$PORT"
    message = f"No {PROCFILE} found: using the Django default `web: {command}`"
    return [shell_process("web", command, default=True)], message


def launch_processes(app_dir: Path, has_gunicorn: bool) -> list[Process]:
    """The processes to write to launch.toml, with their origin logged."""
    processes = read_procfile(app_dir)
    if processes is None:
        processes, message = default_processes(app_dir, has_gunicorn)
        output.step(message)
        return processes
    if not processes:
        output.warning(
            f"The {PROCFILE} defines no process",
            f"The image has no process to start. Add `type: command` lines to {PROCFILE}, "
            "for example `web: gunicorn myproject.wsgi --bind 0.0.0.0:$PORT`.",
        )
        return processes
    names = ", ".join(p.type + (" (default)" if p.default else "") for p in processes)
    output.step(f"Processes from {PROCFILE}: {names}")
    return processes


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BuildError(
            f"{name} is not valid UTF-8",
            f"Line {line} of {name} contains bytes that are not UTF-8 text.\n"
            f"Save {name} with the UTF-8 encoding.",
        ) from error


def _error(name: str, number: int, raw: str, problem: str) -> BuildError:
    return BuildError(
        f"Malformed {name} at line {number}",
        f"Line {number} of {name}:\n\n    {raw.rstrip()}\n\n{problem[0].upper()}{problem[1:]}.\n"
        f"Each line must be `<type>: <command>`, for example:\n\n"
        f"    web: gunicorn myproject.wsgi --bind 0.0.0.0:$PORT",
    )
