"""Exact in-place update of a pip app's venv after its requirements changed.

`pip install -r` adds and upgrades, but never removes what the requirements stopped naming,
and keeps an installed version that still satisfies a loose requirement. So the update:

1. resolves the target set, what a fresh venv would get: the normal install command with
   `--dry-run --ignore-installed --report`, run by the runtime's interpreter, since it never
   looks at the venv: it runs while the previous venv is unpacked from its packed copy, copied
   aside (the rollback) and
2. the normal install command updates the venv as `pip install -r` does;
3. uninstalls every distribution of the venv outside the target set, and installs again with
   each target pinned by a constraints file if a version still differs (loose requirements);
4. checks the venv's distributions against the target set, name and version.

Direct references (local paths, URLs, VCS, editable installs) cannot be compared by version,
and requirements with hashes refuse the constraints of step 3 (fully pinned, they rarely need
it): both are left to a rebuild from scratch, as is any update that does not verify.

The target-set helpers (direct references, `installed`, `compare`, `verified`) serve uv's
updates too (uv_update.py).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from .. import output
from ..errors import BuildError
from ..layers.tools import ToolInstall
from ..process import Completed
from . import pip_freeze
from .pip import Pip, _logical_lines

# Runs an installer command, raising the installer's explanation when it fails; `echo=False`
# keeps its output out of the log (the side resolution, whose errors the install repeats).
RunChecked = Callable[..., Completed]
# Requirement lines that name no index release: URLs, VCS, local paths, editable installs.
_DIRECT = re.compile(r"://|\s@\s|^(-e|--editable)\b|^[./~]|\.(whl|zip|tar\.gz|tgz)$")


@dataclass
class Resolution:
    """The target set being resolved, started before the venv is copied aside for the update."""

    installer: Pip
    tool: ToolInstall
    app_dir: Path
    run_checked: RunChecked
    install: list[str | Path]  # the normal install command
    report: Path
    resolve: list[str | Path]  # the side resolution, writing `report`
    run_resolve: RunChecked  # runs it, outside the venv
    pool: ThreadPoolExecutor
    future: Future[Completed] | None  # None: not started, the requirements being frozen
    pins: pip_freeze.Pins | None  # a frozen file's pins (pip_freeze.py)
    python_version: str
    # The pins' closure is checked on the venv's files, before the install (no record of them).
    check_closed: bool

    def start(self) -> None:
        self.future = self.pool.submit(self.run_resolve, self.resolve, echo=False)


@contextmanager
def resolving(
    installer: Pip,
    tool: ToolInstall,
    venv: Path,
    app_dir: Path,
    run_checked: RunChecked,
    python_version: str,
    *,
    python: Path,
    run_resolve: RunChecked,
    recorded: Mapping[str, list[str]] | None,
) -> Iterator[Resolution | None]:
    """Starts resolving the app's target set (step 1), for `update` to use; None when the venv
    must be rebuilt from scratch instead (direct references). The dry run never looks at the
    venv: `python` (the runtime's interpreter) runs it with `run_resolve`, which needs no venv,
    so that it can start before the previous venv's files are there; leaving waits for it.
    Frozen requirements (pip_freeze.py) are their own target set: no dry run, unless they turn
    out not to be closed, which `recorded` (what the previous venv's distributions require)
    tells now; without it, `update` checks the venv's files before the install."""
    *_, install = installer.commands(tool, venv)
    if not without_direct_references(direct_requirements(app_dir, installer.inputs(app_dir))):
        yield None
        return
    pins = pip_freeze.frozen_pins(requirement_files(app_dir, installer.inputs(app_dir)), python_version)
    if pins is not None and recorded is not None and not pip_freeze.closed(recorded, pins, python_version):
        pins = None  # as the venv stands: a new pin, or dependencies left out: resolve meanwhile
    with tempfile.TemporaryDirectory(prefix="pip-update-") as tmp, ThreadPoolExecutor(1) as pool:
        report = Path(tmp) / "report.json"
        # `-s`: no user site, as in the venv.
        outside = [python, "-s", *install[1:]]
        resolve = _with_options(outside, "--dry-run", "--ignore-installed", "--quiet", "--report", report)
        resolution = Resolution(installer, tool, app_dir, run_checked, install, report, resolve, run_resolve,
                                pool, None, pins, python_version, check_closed=recorded is None)  # fmt: skip
        if pins is None:
            resolution.start()
        yield resolution


def update(resolution: Resolution, venv: Path) -> bool:
    """Updates `venv` to the app's requirements; False when the caller must rebuild from scratch."""
    installer, tool, run_checked = resolution.installer, resolution.tool, resolution.run_checked
    install = resolution.install
    pins = resolution.pins
    if resolution.check_closed and pins is not None and not pip_freeze.closed(venv, pins, resolution.python_version):
        resolution.pins = None  # as the venv stands: resolve meanwhile
        resolution.start()
    with output.timed(f"Installing dependencies with {installer.name} {installer.version}"):
        run_checked(install)  # its errors, streamed, come first
        pins = resolution.pins
        if pins is not None and not pip_freeze.closed(venv, pins, resolution.python_version):
            output.step("The new pins' dependencies are not all pinned: resolving the requirements")
            pins = None
        try:
            if pins is None and resolution.future is not None:
                resolution.future.result()
            elif pins is None:  # frozen, but a changed pin's dependencies are not: resolve now
                resolution.run_resolve(resolution.resolve, echo=False)
        except BuildError as error:  # the install worked: let a rebuild say what is wrong, if anything
            output.step(f"Rebuilding from scratch: resolving the target set failed ({error.title})")
            return False
    if pins is not None:
        output.step("The requirements pin every distribution: they are the target set, with no resolution")
    target, direct = read_report(resolution.report) if pins is None else ({n: v for n, (v, _) in pins.items()}, [])
    if not without_direct_references(direct):  # one that only resolution reveals (e.g. from a constraints file)
        return False
    python = venv / "bin" / "python"
    extra = sorted(set(installed(venv)) - set(target))
    if extra:
        output.step(f"Removing {', '.join(extra)} (no longer required)")
        run_checked([python, tool.pip_main, "uninstall", "--yes", "--quiet", "--disable-pip-version-check", *extra])
    if compare(target, installed(venv)):
        if requirement_files(resolution.app_dir, installer.inputs(resolution.app_dir), "--hash"):
            output.step("Rebuilding from scratch: requirements with hashes do not accept an update's pins")
            return False
        constraints = resolution.report.with_name("constraints.txt")
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(target.items())))
        with output.timed("Moving installed versions to the resolved ones"):
            run_checked(_with_options(install, "-c", constraints))
    return verified(target, installed(venv), "the requirements")


def without_direct_references(direct: list[str]) -> bool:
    """Whether the target set has no direct references; else says that the venv is rebuilt."""
    if direct:
        output.step(f"Rebuilding from scratch: direct references ({', '.join(direct)}) are not compared by version")
    return not direct


def direct_requirements(app_dir: Path, inputs: dict[str, str]) -> list[str]:
    """The requirement lines of the venv's requirements files that name no index release."""
    return [line for path in requirement_files(app_dir, inputs) for line in _direct_lines(path)]


def verified(target: dict[str, str], actual: dict[str, str], source: str) -> bool:
    """Whether the updated venv's distributions are exactly `target`; else says how they differ
    from `source`."""
    differences = compare(target, actual)
    if differences:
        output.step(f"The updated venv differs from {source} ({'; '.join(differences)}): rebuilding")
    return not differences


def read_report(path: Path) -> tuple[dict[str, str], list[str]]:
    """The target set (canonical name → version) of a `pip install --report`, and its direct references."""
    report = json.loads(path.read_text(encoding="utf-8"))
    target: dict[str, str] = {}
    direct: list[str] = []
    for item in report.get("install", []):
        name = canonical(item["metadata"]["name"])
        target[name] = item["metadata"]["version"]
        if item.get("is_direct"):
            direct.append(name)
    return target, direct


def installed(venv: Path, *, local: bool = True) -> dict[str, str]:
    """The distributions in the venv's site-packages: canonical name → version (`local=False`:
    without those installed from a local path, such as a project's own package)."""
    found: dict[str, str] = {}
    for metadata in sorted(venv.glob("lib/python3*/site-packages/*.dist-info/METADATA")):
        if not local and _from_local_path(metadata.parent):
            continue
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        if headers["Name"] and headers["Version"]:
            found[canonical(headers["Name"])] = headers["Version"]
    return found


def _from_local_path(dist_info: Path) -> bool:
    try:  # PEP 610: how a distribution that is not an index release was installed
        return bool(json.loads((dist_info / "direct_url.json").read_text(encoding="utf-8"))["url"].startswith("file:"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def compare(target: dict[str, str], actual: dict[str, str]) -> list[str]:
    """What differs, as short phrases (empty when the venv is exactly the target set)."""
    differences = [f"{name} missing" for name in sorted(target.keys() - actual.keys())]
    differences += [f"{name} not required" for name in sorted(actual.keys() - target.keys())]
    differences += [
        f"{name} {actual[name]} instead of {version}"
        for name, version in sorted(target.items())
        if name in actual and actual[name] != version
    ]
    return differences


def canonical(name: str) -> str:
    """The normalised project name (PEP 503), as pip compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _with_options(command: Sequence[str | Path], *options: str | Path) -> list[str | Path]:
    """`command` (`python <pip> install ...`) with more options right after `install`."""
    at = list(command).index("install") + 1
    return [*command[:at], *options, *command[at:]]


def requirement_files(app_dir: Path, inputs: dict[str, str], containing: str = "") -> list[Path]:
    """The requirements files among the venv's inputs (those holding `containing`)."""
    found = []
    for label in inputs:
        path = Path(label) if Path(label).is_absolute() else app_dir / label
        if path.suffix != ".txt" or not path.is_file():
            continue
        if containing in path.read_text(encoding="utf-8", errors="replace"):
            found.append(path)
    return found


def _direct_lines(path: Path) -> list[str]:
    requirements = [" ".join(tokens) for tokens in _logical_lines(path) if not tokens[0].startswith("-")
                    or tokens[0] in ("-e", "--editable")]  # fmt: skip
    return [line for line in requirements if _DIRECT.search(line.split(";")[0].strip())]
