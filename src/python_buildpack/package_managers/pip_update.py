"""Exact in-place update of a pip app's venv after its requirements changed.

`pip install -r` adds and upgrades, but never removes what the requirements stopped naming,
and keeps an installed version that still satisfies a loose requirement. So the update:

1. resolves the target set: the normal install command with `--dry-run --ignore-installed
   --report` (what a fresh venv would get);
2. uninstalls every distribution of the venv outside the target set;
3. runs the normal install command with each target pinned by a constraints file, so that
   pip installs what is missing and moves what differs to the target version;
4. checks the venv's distributions against the target set, name and version.

A target set with direct references (local paths, URLs, VCS, editable installs) cannot be
compared by version, and a requirements file with hashes refuses constraints: both are left to
a rebuild from scratch, as is any update that does not verify.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Sequence
from email.parser import HeaderParser
from pathlib import Path

from .. import output
from .base import Completed, ToolInstall
from .pip import Pip

RunChecked = Callable[[Sequence[str | Path]], Completed]


def update(installer: Pip, tool: ToolInstall, venv: Path, app_dir: Path, run_checked: RunChecked) -> bool:
    """Updates `venv` to the app's requirements; False when the caller must rebuild from scratch."""
    *_, install = installer.commands(tool, venv)
    if _uses_hashes(app_dir, installer.inputs(app_dir)):
        output.step("Rebuilding from scratch: requirements with hashes do not accept an update's pins")
        return False
    with tempfile.TemporaryDirectory(prefix="pip-update-") as tmp:
        report = Path(tmp) / "report.json"
        with output.timed(f"Resolving the requirements with {installer.name} {installer.version}"):
            run_checked(_with_options(install, "--dry-run", "--ignore-installed", "--quiet", "--report", report))
        target, direct = read_report(report)
        if direct:
            output.step(f"Rebuilding from scratch: direct references ({', '.join(direct)}) are not compared by version")
            return False
        target.setdefault("pip", installer.version)  # the venv's own pip, from the pip layer
        python = venv / "bin" / "python"
        extra = sorted(set(installed(venv)) - set(target))
        if extra:
            output.step(f"Removing {', '.join(extra)} (no longer required)")
            run_checked([python, tool.pip_main, "uninstall", "--yes", "--quiet", "--disable-pip-version-check", *extra])
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(target.items())))
        with output.timed(f"Installing dependencies with {installer.name} {installer.version}"):
            run_checked(_with_options(install, "-c", constraints))
    differences = compare(target, installed(venv))
    if differences:
        output.step(f"The updated venv differs from the requirements ({'; '.join(differences)}): rebuilding")
        return False
    return True


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


def installed(venv: Path) -> dict[str, str]:
    """The distributions in the venv's site-packages: canonical name → version."""
    found: dict[str, str] = {}
    for metadata in sorted(venv.glob("lib/python3*/site-packages/*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        if headers["Name"] and headers["Version"]:
            found[canonical(headers["Name"])] = headers["Version"]
    return found


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


def _uses_hashes(app_dir: Path, inputs: dict[str, str]) -> bool:
    for label in inputs:
        path = Path(label) if Path(label).is_absolute() else app_dir / label
        if path.suffix == ".txt" and path.is_file() and "--hash" in path.read_text(encoding="utf-8", errors="replace"):
            return True
    return False
