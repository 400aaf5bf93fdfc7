"""`vendor-lock.txt`: the exact versions (and sha256 of every file) of the vendored dependencies.

A universal requirements file written by `uv pip compile` from pyproject.toml's dependencies:
one pin per distribution, with an environment marker where a pin only applies to some Python
versions (`tomli ; python_full_version < '3.11'`). pip cannot evaluate those markers for
another interpreter than its own, so they are evaluated here, per target.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from python_buildpack.cnb import toml_io
from python_buildpack.errors import BuildError

from .targets import DEFAULT_PYTHONS, VendorTarget

LOCK = Path(__file__).with_name("vendor-lock.txt")
UPDATE_COMMAND = "python -m python_buildpack_dev.package --update-lock"


@dataclass(frozen=True)
class Pin:
    name: str  # canonical name
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]  # "sha256:<hex>"

    def applies_to(self, target: VendorTarget) -> bool:
        return self.marker is None or any(self.marker.evaluate(env) for env in target.marker_environments())

    def requirement_line(self) -> str:
        """A pip requirement without marker (already evaluated) in hash-checking mode."""
        return " ".join([f"{self.name}=={self.version}", *(f"--hash={h}" for h in self.hashes)])


def read_lock(path: Path = LOCK) -> list[Pin]:
    pins: list[Pin] = []
    for number, line in _logical_lines(path):
        requirement, *options = line.split(" --hash=")
        try:
            req = Requirement(requirement.strip())
        except InvalidRequirement as error:
            raise _bad_lock(path, number, str(error)) from None
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or not options:
            raise _bad_lock(path, number, "every line must be `name==version ; marker --hash=sha256:...`")
        hashes = tuple(option.strip() for option in options)
        pins.append(Pin(canonicalize_name(req.name), specs[0].version, req.marker, hashes))
    return pins


def pins_for(pins: list[Pin], target: VendorTarget) -> list[Pin]:
    selected = [pin for pin in pins if pin.applies_to(target)]
    names = [pin.name for pin in selected]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BuildError(
            f"{LOCK.name} pins {', '.join(duplicates)} twice for Python {target.python}",
            f"Two lines apply to the same interpreter. Regenerate the lock: {UPDATE_COMMAND}",
        )
    return selected


def check_project(pins: list[Pin], pyproject: Path, targets: list[VendorTarget]) -> None:
    """Fails when pyproject.toml's dependencies are not what the lock pins, for any target."""
    declared = toml_io.load(pyproject).get("project", {}).get("dependencies", [])
    stale: set[str] = set()
    for target in targets:
        by_name = {pin.name: pin for pin in pins_for(pins, target)}
        for text in declared:
            req = Requirement(text)
            if req.marker is not None and not any(req.marker.evaluate(env) for env in target.marker_environments()):
                continue
            pin = by_name.get(canonicalize_name(req.name))
            if pin is None or not req.specifier.contains(pin.version, prereleases=True):
                stale.add(req.name)
    if stale:
        raise BuildError(
            f"{LOCK.name} does not match the dependencies of {pyproject.name}",
            f"Missing or outside the declared range: {', '.join(sorted(stale))}. Update the lock "
            f"with `{UPDATE_COMMAND}` (needs uv) and commit {LOCK.name}.",
        )


def update_lock(repo: Path, *, upgrade: bool = False, lock: Path = LOCK) -> None:
    """Re-resolves pyproject.toml's dependencies into the lock (existing pins kept unless `upgrade`)."""
    uv = shutil.which("uv")
    if uv is None:
        raise BuildError("uv is needed to update the vendor lock", "Install it (`pip install uv`) and run again.")
    cmd = [
        uv, "pip", "compile", "pyproject.toml", "--universal", "--python-version", min(DEFAULT_PYTHONS),
        "--only-binary", ":all:", "--generate-hashes", "--custom-compile-command", UPDATE_COMMAND,
        "--quiet", "--output-file", str(lock),
    ]  # fmt: skip
    if upgrade:
        cmd.append("--upgrade")
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError("uv could not resolve the buildpack's dependencies", "See uv's output above.",
                         output=proc.stdout + proc.stderr)


def _logical_lines(path: Path) -> list[tuple[int, str]]:
    """Requirement lines with their `\\` continuations joined and comments dropped."""
    lines: list[tuple[int, str]] = []
    current, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.strip()
        if not current and (not text or text.startswith("#")):
            continue
        if text.startswith("#"):  # a comment after a continuation ends the entry
            text = ""
        start = start or number
        if text.endswith("\\"):
            current += text[:-1] + " "
            continue
        current += text
        if current.strip():
            lines.append((start, " ".join(current.split())))
        current, start = "", 0
    if current.strip():
        lines.append((start, " ".join(current.split())))
    return lines


def _bad_lock(path: Path, line: int, reason: str) -> BuildError:
    return BuildError(f"{path.name}, line {line}: {reason}", f"Regenerate it: {UPDATE_COMMAND}")
