"""`vendor/`: the buildpack's dependencies, unpacked from wheels pip downloads for each target.

    vendor/common/          pure-Python distributions, once
    vendor/cp312-x86_64/    compiled ones (and any pure one whose pin differs between targets)
    vendor/manifest.json    every wheel used, its sha256 and where it went

Only `pip download` of the exact files the lock pins (hash-checked, no dependency resolution)
touches the network; unpacking is plain zip extraction in a fixed order, so identical wheels
give identical trees.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name, parse_wheel_filename

from python_buildpack.errors import BuildError

from .lock import LOCK, Pin, pins_for
from .targets import VendorTarget

COMMON = "common"
MANIFEST = "manifest.json"

# Files of a wheel the buildpack never loads. zstandard ships its library twice (C extension
# and CFFI build, 11 MB each with debug symbols): it imports the C backend by default.
PRUNED: dict[str, tuple[str, ...]] = {"zstandard": ("zstandard/_cffi.*", "zstandard/backend_cffi.py")}


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str  # canonical
    version: str
    pure: bool

    @classmethod
    def from_path(cls, path: Path) -> Wheel:
        name, version, _, tags = parse_wheel_filename(path.name)
        pure = all(tag.abi == "none" and tag.platform == "any" for tag in tags)
        return cls(path, canonicalize_name(name), str(version), pure)


def download(
    targets: list[VendorTarget], pins: list[Pin], dest: Path, log: Callable[[str], None]
) -> dict[VendorTarget, list[Wheel]]:
    """Each target's wheels, downloaded by pip into `dest/<target>/` (pip's cache makes repeats cheap)."""
    wheels: dict[VendorTarget, list[Wheel]] = {}
    for target in targets:
        directory = dest / target.name
        directory.mkdir(parents=True, exist_ok=True)
        requirements = directory / "requirements.txt"
        selected = pins_for(pins, target)
        requirements.write_text("".join(pin.requirement_line() + "\n" for pin in selected), encoding="utf-8")
        log(f"Downloading {len(selected)} wheels for CPython {target.python} on {target.machine}")
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--require-hashes", "--disable-pip-version-check", "--no-input",
            "--implementation", "cp", "--python-version", target.python, "--abi", target.abi,
            *(f"--platform={tag}" for tag in target.platform_tags()),
            "--dest", str(directory), "--requirement", str(requirements),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(
                f"pip could not download the wheels for CPython {target.python} on {target.machine}",
                f"Every pin of {LOCK.name} must have a wheel for this interpreter and machine "
                "(manylinux, glibc 2.31 at most) on the package index pip uses.",
                output=proc.stdout + proc.stderr,
            )
        found = [Wheel.from_path(path) for path in sorted(directory.glob("*.whl"))]
        missing = {pin.name for pin in selected} - {wheel.name for wheel in found}
        if missing:
            raise BuildError(f"pip downloaded no wheel of {', '.join(sorted(missing))} for {target.name}")
        wheels[target] = found
    return wheels


def install(wheels: dict[VendorTarget, list[Wheel]], vendor: Path) -> None:
    """Unpacks every wheel into its vendor directory and writes the manifest."""
    # A pure distribution goes to common/ when every target that needs it uses the same file.
    files_by_name: dict[str, set[str]] = {}
    for target_wheels in wheels.values():
        for wheel in target_wheels:
            if wheel.pure:
                files_by_name.setdefault(wheel.name, set()).add(wheel.path.name)
    entries: dict[str, dict[str, str]] = {}
    for target in sorted(wheels):
        for wheel in wheels[target]:
            shared = wheel.pure and len(files_by_name[wheel.name]) == 1
            into = COMMON if shared else target.name
            key = f"{into}/{wheel.path.name}"
            if key in entries:
                continue
            unpack(wheel.path, vendor / into, PRUNED.get(wheel.name, ()))
            entries[key] = {"wheel": wheel.path.name, "sha256": _sha256(wheel.path), "into": into}
    manifest = {
        "lock": LOCK.name,
        "lock_sha256": _sha256(LOCK),
        "targets": [target.name for target in sorted(wheels)],
        "wheels": [entries[key] for key in sorted(entries)],
    }
    (vendor / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def unpack(wheel: Path, dest: Path, pruned: tuple[str, ...] = ()) -> list[str]:
    """Extracts what an install puts in site-packages; returns the paths written (relative).

    `<dist>.data/purelib|platlib/` content goes to the root; scripts, headers and data files
    are not needed to import the package and are left out.
    """
    written: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            rel = _install_path(info.filename, wheel.name)
            if rel is None or any(fnmatch.fnmatchcase(rel, pattern) for pattern in pruned):
                continue
            target = dest / rel
            if target.exists():
                raise BuildError(f"Two vendored wheels install {rel}", f"{wheel.name} overwrites another wheel's file.")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            executable = (info.external_attr >> 16) & 0o111
            target.chmod(0o755 if executable else 0o644)
            written.append(rel)
    return written


def _install_path(member: str, wheel_name: str) -> str | None:
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or "\\" in member:
        raise BuildError(f"{wheel_name} has an unsafe member name: {member!r}")
    first = path.parts[0]
    if first.endswith(".data"):
        if len(path.parts) > 2 and path.parts[1] in ("purelib", "platlib"):
            return str(PurePosixPath(*path.parts[2:]))
        return None
    return str(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def populate(targets: list[VendorTarget], pins: list[Pin], dest: Path, log: Callable[[str], None]) -> None:
    """Downloads and installs every target's wheels into `dest` (the artifact's vendor/)."""
    with tempfile.TemporaryDirectory(prefix="vendor-wheels-") as tmp:
        install(download(targets, pins, Path(tmp), log), dest)
