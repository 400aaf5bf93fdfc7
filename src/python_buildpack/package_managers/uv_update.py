"""Exact in-place updates of uv's venvs after their dependency files changed.

- requirements.txt apps installed with uv (`BP_PYTHON_INSTALLER=uv`): `uv pip compile`, which
  never looks at the environment, resolves the target set (what a fresh venv would get) while
  the venv is copied aside; what is not in it is uninstalled; then the normal `uv pip install
  -r` runs with the target set as constraints, so that loose requirements move to the resolved
  versions while the requirements files keep their options and hashes. The venv keeps its
  pinned pip, unless the requirements name pip. A frozen file (pip_freeze.py) is its own target
  set: no `uv pip compile`, unless a changed pin's dependencies fall outside it.
- uv.lock apps: `uv sync` is exact by design; it runs into the previous venv, and `uv export`
  gives the target set (evaluated for the runtime's Python) while the venv is copied aside.

Either way the venv is then checked against the target set, name and version (pip_update.py),
and an update that does not check out is rebuilt from scratch.

uv never writes into an existing file of the venv, which the hard-linked rollback copy
(layers/venv.py) relies on: it writes every file under a temporary name and renames it into
place, unlinks what it uninstalls, and compiles byte-code the same way (`.lock` is opened for
writing, to lock it, never written; tests/e2e/test_uv_update.py checks the copy).

Byte-code: before the update, the modules of the distributions that change lose theirs (uv's
uninstall leaves a top-level module's behind), so only those are compiled again and none is
stale: the update compiles what has no byte-code (files/bytecode.py, as after every install with
uv: `--compile-bytecode` would compile the packages' test suites, and `uv sync`'s the whole venv).
"""

from __future__ import annotations

import csv
import glob
import io
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

from .. import output
from ..errors import BuildError
from ..files import bytecode
from ..layers.tools import ToolInstall
from ..process import Completed
from . import pip_freeze
from .pip_freeze import marker_environment
from .pip_update import (
    RunChecked,
    canonical,
    direct_requirements,
    installed,
    requirement_files,
    verified,
    without_direct_references,
)
from .uv import Uv
from .uv_pip import UvPip

# Updates the venv at the path; False when the caller must rebuild it from scratch.
Update = Callable[[Path], bool]
# Compiles with a byte-code command (files/bytecode.py), tolerating modules that do not compile.
Compile = Callable[[Sequence[str | Path] | None], None]
# The pinned target set's file, and the run that writes it.
Resolution = tuple[Path, Future[Completed]]
# `name==version`, what `uv pip compile` and `uv export` write for a release of an index.
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*(\S+)")


@contextmanager
def requirements_update(installer: UvPip, tool: ToolInstall, venv: Path, app_dir: Path, python_version: str,
                        run_checked: RunChecked, compile: Compile) -> Iterator[Update | None]:  # fmt: skip
    """Starts resolving a requirements.txt app's target set, for the update it yields; None when
    the venv must be rebuilt from scratch instead (direct references)."""
    if not without_direct_references(direct_requirements(app_dir, installer.inputs(app_dir))):
        yield None
        return
    pins = pip_freeze.frozen_pins(requirement_files(app_dir, installer.inputs(app_dir)), python_version)
    if pins is not None and pip_freeze.closed(venv, pins, python_version):
        yield partial(_update_frozen, installer, tool, python_version, run_checked, compile, pins)
        return
    with _resolving(partial(installer.resolve_command, tool, venv), run_checked) as resolution:
        yield partial(_update_requirements, installer, tool, python_version, run_checked, compile, resolution)


@contextmanager
def lock_update(
    installer: Uv, tool: ToolInstall, venv: Path, python_version: str, run_checked: RunChecked, compile: Compile
) -> Iterator[Update]:
    """Starts exporting a uv.lock app's target set, for the update it yields."""
    with _resolving(partial(installer.export_command, tool, venv), run_checked) as resolution:
        yield partial(_update_lock, installer, tool, python_version, run_checked, compile, resolution)


def _update_requirements(installer: UvPip, tool: ToolInstall, python_version: str, run_checked: RunChecked,
                         compile: Compile, resolution: Resolution, venv: Path) -> bool:  # fmt: skip
    *_, install = installer.commands(tool, venv)
    resolved = _resolved(installer, resolution, python_version, install, run_checked)
    if resolved is None or not without_direct_references(resolved[1]):
        return False
    target = resolved[0]
    extra = _prepare(venv, target, [])
    if extra:
        run_checked(installer.uninstall_command(tool, venv, extra))
    with output.timed(f"Installing dependencies with {installer.name} {installer.version}"):
        run_checked([*install, "--constraints", resolution[0]])
        compile(installer.compile_command(venv))
    return verified(target, installed(venv), "the requirements")


def _update_frozen(installer: UvPip, tool: ToolInstall, python_version: str, run_checked: RunChecked,
                   compile: Compile, pins: pip_freeze.Pins, venv: Path) -> bool:  # fmt: skip
    """A frozen requirements file (pip_freeze.py) is its own target set: no `uv pip compile`
    beside the install, unless a changed pin's new dependencies turn out not to be pinned."""
    *_, install = installer.commands(tool, venv)
    target = {name: version for name, (version, _) in pins.items()}
    extra = _prepare(venv, target, [])
    if extra:
        run_checked(installer.uninstall_command(tool, venv, extra))
    with output.timed(f"Installing dependencies with {installer.name} {installer.version}"):
        run_checked(install)
        compile(installer.compile_command(venv))
    if pip_freeze.closed(venv, pins, python_version):
        output.step("The requirements pin every distribution: they are the target set, with no resolution")
        return verified(target, installed(venv), "the requirements")
    output.step("The new pins' dependencies are not all pinned: resolving the requirements")
    with tempfile.TemporaryDirectory(prefix="uv-update-") as tmp:
        path = Path(tmp) / "target.txt"
        try:
            run_checked(installer.resolve_command(tool, venv, path), echo=False)
        except BuildError as error:
            output.step(f"Rebuilding from scratch: resolving the target set failed ({error.title})")
            return False
        target, direct = read_pins(path, python_version)
    if not without_direct_references(direct):  # says why the venv is rebuilt
        return False
    extra = _prepare(venv, target, [])  # after the install: drops no byte-code of a version that verifies
    if extra:
        run_checked(installer.uninstall_command(tool, venv, extra))
    return verified(target, installed(venv), "the requirements")


def _update_lock(installer: Uv, tool: ToolInstall, python_version: str, run_checked: RunChecked, compile: Compile,
                 resolution: Resolution, venv: Path) -> bool:  # fmt: skip
    sync = installer.sync_command(tool, venv)
    resolved = _resolved(installer, resolution, python_version, sync, run_checked)
    if resolved is None:
        return False
    target, direct = resolved
    _prepare(venv, target, direct)  # `uv sync` removes what the lock no longer has
    with output.timed(f"Installing dependencies with {installer.name} {installer.version}"):
        run_checked(sync)
        compile(bytecode.venv_missing(venv))
    actual = installed(venv, local=False)  # the project and path dependencies: uv's to keep exact
    # Direct references (git, URLs) are pinned by the lock, not by a version: checked by name.
    return verified(target | {name: actual.get(name, "") for name in direct}, actual, installer.lock_file)


def _resolved(installer: UvPip | Uv, resolution: Resolution, python_version: str, install: list[str | Path],
              run_checked: RunChecked) -> tuple[dict[str, str], list[str]] | None:  # fmt: skip
    """The target set: pins and direct references; None when it could not be resolved."""
    path, future = resolution
    try:
        future.result()
    except BuildError as error:
        # The install's own output explains best what is wrong (an out-of-date lock, a missing
        # release), if anything: it runs, and raises that error.
        with output.timed(f"Installing dependencies with {installer.name} {installer.version}"):
            run_checked(install)
        output.step(f"Rebuilding from scratch: resolving the target set failed ({error.title})")
        return None
    return read_pins(path, python_version)


def _prepare(venv: Path, target: dict[str, str], direct: list[str]) -> list[str]:
    """Says what the update removes, and drops the byte-code of every distribution it may change
    (local packages and direct references: uv reinstalls them when their source changed);
    returns the removed."""
    extra = sorted(set(installed(venv, local=False)) - set(target) - set(direct))
    if extra:
        output.step(f"Removing {', '.join(extra)} (no longer required)")
    drop_bytecode(venv, {name for name, version in installed(venv).items() if target.get(name) != version})
    return extra


@contextmanager
def _resolving(command: Callable[[Path], list[str | Path]], run_checked: RunChecked) -> Iterator[Resolution]:
    """Runs `command(output)` in the background (it never looks at the venv, which is copied
    aside meanwhile): the pinned target set it writes, and its run."""
    with tempfile.TemporaryDirectory(prefix="uv-update-") as tmp, ThreadPoolExecutor(1) as pool:
        path = Path(tmp) / "target.txt"
        yield path, pool.submit(run_checked, command(path), echo=False)


def read_pins(path: Path, python_version: str) -> tuple[dict[str, str], list[str]]:
    """The pins (canonical name → version) of pinned requirements whose markers hold for the
    runtime's Python, and the other requirements' names (direct references)."""
    environment = marker_environment(python_version)
    pins: dict[str, str] = {}
    direct: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or (line.startswith("-") and not line.startswith(("-e", "--editable"))):
            continue  # comments and options (an index URL)
        requirement, _, marker = line.partition(";")
        try:
            if marker.strip() and not Marker(marker).evaluate(environment):
                continue
        except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
            direct.append(canonical(requirement.split("@")[0].strip()))  # checked by name at least
            continue
        pin = _PIN.fullmatch(requirement.strip())
        if pin:
            pins[canonical(pin.group(1))] = pin.group(2)
        elif requirement.startswith("-"):
            direct.append(requirement.strip())
        else:
            direct.append(canonical(requirement.split("@")[0].strip()))
    return pins, direct


def drop_bytecode(venv: Path, names: set[str]) -> None:
    """Deletes the byte-code of these distributions' modules (read from their RECORD)."""
    for dist_info in venv.glob("lib/python3*/site-packages/*.dist-info"):
        record = dist_info / "RECORD"
        if canonical(dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]) not in names or not record.is_file():
            continue
        for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8", errors="replace"))):
            if row and row[0].endswith(".py"):
                source = dist_info.parent / row[0]
                for pyc in source.parent.glob(f"__pycache__/{glob.escape(source.stem)}.*.pyc"):
                    pyc.unlink(missing_ok=True)
