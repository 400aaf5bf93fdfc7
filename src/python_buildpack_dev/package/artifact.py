"""The artifact directory and its .tgz: run-time files of the repository, vendor/, byte-code.

Deterministic: the same sources, lock and interpreters give the same bytes (fixed mtimes and
modes, sorted archive members, no owner names, gzip without timestamp).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from python_buildpack.cnb import toml_io
from python_buildpack.errors import BuildError

from . import vendor as vendoring
from .lock import LOCK, check_project, read_lock
from .targets import DEFAULT_PYTHONS, MACHINES, VendorTarget, targets

# What the buildpack needs at run time, relative to the repository root.
# The development tools live apart, in src/python_buildpack_dev: nothing here needs excluding.
INCLUDED = ("bin", "lib", "layers_templates", "src/python_buildpack", "buildpack.toml")
# SOURCE_DATE_EPOCH when set, else 1980-01-01 (what CNB exporters use).
DEFAULT_EPOCH = 315532800

PACKAGE_TOML = """\
# pack buildpack package <image> --config package.toml [--format file]
# This directory was made by `python -m python_buildpack_dev.package`: it holds only what the
# buildpack needs at run time, its Python dependencies included (vendor/).
[buildpack]
uri = "."

[platform]
os = "linux"
"""


@dataclass
class Report:
    output: Path
    tgz: Path | None
    sizes: dict[str, int] = field(default_factory=dict)  # top-level entry or vendor/<dir> -> bytes
    compiled_for: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(size for name, size in self.sizes.items() if not name.startswith("vendor/"))


def build_artifact(
    repo: Path,
    output: Path,
    *,
    pythons: Sequence[str] = DEFAULT_PYTHONS,
    machines: Sequence[str] = MACHINES,
    compile_with: Sequence[Path] = (),
    tgz: Path | None = None,
    log: Callable[[str], None] = print,
) -> Report:
    """Writes the artifact to `output` (replacing a previous artifact there) and optionally a .tgz."""
    repo = repo.resolve()
    output = output.absolute()
    if not (repo / "buildpack.toml").is_file():
        raise BuildError(f"{repo} is not the buildpack repository", "It has no buildpack.toml.")
    _check_output(output)
    chosen = targets(tuple(pythons), tuple(machines))
    pins = read_lock()
    check_project(pins, repo / "pyproject.toml", chosen)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))

    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for rel in source_files(repo):
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo / rel, staging / rel)
            (staging / rel).chmod(0o755 if os.stat(repo / rel).st_mode & 0o111 else 0o644)
        (staging / "package.toml").write_text(PACKAGE_TOML, encoding="utf-8")
        vendoring.populate(chosen, pins, staging / "vendor", log)
        compiled = [compile_bytecode(staging, python, chosen, log) for python in compile_with]
        normalise(staging, epoch)
        _replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if tgz is not None:
        write_tgz(output, tgz, epoch)
    report = Report(output, tgz, sizes(output), sorted(compiled))
    return report


def source_files(repo: Path) -> list[str]:
    """The repository files the artifact ships, as sorted POSIX paths relative to `repo`."""
    found: list[str] = []
    for entry in INCLUDED:
        path = repo / entry
        if path.is_file():
            found.append(entry)
            continue
        for root, dirs, files in os.walk(path):
            rel_root = Path(root).relative_to(repo).as_posix()
            dirs[:] = sorted(d for d in dirs if not _skipped(d))
            found += [f"{rel_root}/{name}" for name in files if not _skipped(name)]
    return sorted(found)


def _skipped(name: str) -> bool:
    return (
        name.startswith(".")
        or name == "__pycache__"
        or name.endswith((".pyc", ".pyo", "~", ".egg-info", ".swp"))
    )


# Byte-code: the buildpack dir is read-only at build time, so without shipped .pyc files every
# build would compile pydantic, httpx and the buildpack from source (~0.7 s per build).
_COMPILE = """\
import compileall, py_compile, sys
root = sys.argv[1]
ok = True
for rel in sys.argv[2:]:
    ok &= bool(compileall.compile_dir(root + "/" + rel, ddir=rel, quiet=1, workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH))
print("%d.%d" % sys.version_info[:2])
sys.exit(0 if ok else 3)
"""


def compile_bytecode(root: Path, python: Path, chosen: list[VendorTarget], log: Callable[[str], None]) -> str:
    """Compiles src/ and the vendor dirs of `python`'s version with it; returns that version.

    Unchecked-hash .pyc files: valid whatever the mtimes (normalised here and by CNB exporters),
    never re-validated against a source that cannot change in a packaged buildpack.
    """
    probe = subprocess.run([str(python), "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, check=False)
    version = probe.stdout.strip()
    dirs = [f"vendor/{t.name}" for t in chosen if t.python == version]
    if probe.returncode != 0 or not dirs:
        vendored = sorted({t.python for t in chosen})
        raise BuildError(
            f"--compile-with {python}: not an interpreter of a vendored Python version",
            f"It {'is Python ' + version if version else 'does not run'}; the artifact vendors "
            f"dependencies for Python {', '.join(vendored)} (--python).",
        )
    log(f"Compiling byte-code for Python {version} with {python}")
    # A fixed hash seed: set and frozenset constants are marshalled in iteration order.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONHASHSEED": "0"}
    cmd = [str(python), "-S", "-s", "-c", _COMPILE, str(root), "src", f"vendor/{vendoring.COMMON}", *dirs]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise BuildError(f"Byte-code compilation with {python} failed", output=proc.stdout + proc.stderr)
    return version


def normalise(root: Path, epoch: int) -> None:
    for path in _walk(root):
        if not path.is_symlink():
            if path.is_dir():
                path.chmod(0o755)
            else:
                path.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)
        os.utime(path, (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


def write_tgz(root: Path, dest: Path, epoch: int) -> None:
    """`root`'s content as a reproducible gzip tarball (members relative to `root`)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in _walk(root):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = epoch
            info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
            if info.isreg():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    partial.replace(dest)


def sizes(root: Path) -> dict[str, int]:
    result: dict[str, int] = {}
    for entry in sorted(root.iterdir()):
        result[entry.name] = _size(entry)
    vendor = root / "vendor"
    for entry in sorted(vendor.iterdir()) if vendor.is_dir() else []:
        result[f"vendor/{entry.name}"] = _size(entry)
    return result


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _walk(root: Path) -> Iterator[Path]:
    """Every path under `root`, parents before children, in sorted order."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry)


def _check_output(output: Path) -> None:
    """Only an empty directory or a previous artifact may be replaced."""
    if output.is_file() or (
        output.is_dir() and any(output.iterdir()) and not (output / "vendor" / vendoring.MANIFEST).is_file()
    ):
        raise BuildError(
            f"{output} exists and is not a buildpack artifact",
            "Choose another --output: only an empty directory or a previous artifact is replaced.",
        )


def _replace(staging: Path, output: Path) -> None:
    _check_output(output)
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)


def buildpack_version(repo: Path) -> str:
    return str(toml_io.load(repo / "buildpack.toml")["buildpack"]["version"])


__all__ = ["LOCK", "Report", "build_artifact", "buildpack_version", "source_files", "write_tgz"]
