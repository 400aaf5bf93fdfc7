"""Runtime archives packed from a local interpreter, in the `.tar.zst` layout the real mirror
serves (top level = install prefix).

The archives are packed the way the production ones are made, so that tests and benchmarks
take the path production takes: no pip (nor anything else) in site-packages, the standard
library's byte-code compiled by the archived interpreter itself with unchecked-hash
invalidation (one optimisation level only), no test suites, and no idle/pydoc/2to3/pip
scripts. `bytecode=False` makes an archive without byte-code, to measure that fallback.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import zstandard

from python_buildpack.stacks.table import archive_name

# Bump when the packing rules change so cached archives are rebuilt.
RECIPE_VERSION = "2"
# Fixed member mtime (2024-01-01) so identical inputs give byte-identical archives.
FIXED_MTIME = 1704067200
ZSTD_LEVEL = 3

# site-packages keeps only its README: the production archives ship no pip, no setuptools.
_KEPT_SITE_PACKAGES = {"README.txt"}
# bin/ keeps the interpreter and its -config script; idle, pydoc, 2to3, pip and console
# scripts of other packages are dropped.
_KEPT_BIN = re.compile(r"^python(3(\.[0-9]+)?)?(-config)?$")
# Test suites inside the standard library (test/, idlelib/idle_test/, tkinter/test/, ...).
_TEST_DIRS = {"test", "tests", "idle_test"}


def make_runtime_archive(
    prefix: Path,
    dest_dir: Path,
    version: str,
    ubuntu_version: str,
    arch: str,
    *,
    cache_dir: Path | None = None,
    bytecode: bool = True,
) -> Path:
    """Packs the interpreter installed in `prefix` as `dest_dir/python-…-{arch}.tar.zst`.

    The labels (version, Ubuntu version, arch) only name the file: the caller vouches for
    them. With `bytecode`, `prefix/bin/python3` compiles the packed standard library. With
    `cache_dir`, the archive is built once per prefix (and packing recipe, byte-code choice
    and state of the interpreter's files) and copied from there afterwards; copied rather
    than linked so a test that corrupts its copy cannot poison the cache.
    """
    prefix = prefix.resolve()
    name = archive_name(version, ubuntu_version, arch)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / name
    if cache_dir is None:
        _write_archive(prefix, dest, bytecode)
        return dest
    cached = cache_dir / f"{_cache_key(prefix, bytecode)}.tar.zst"
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        _write_archive(prefix, cached, bytecode)
    if not _same_file_stat(cached, dest):
        shutil.copy2(cached, dest)  # keeps the mtime: the next call sees an up-to-date copy
    return dest


def _same_file_stat(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_size, sa.st_mtime_ns) == (sb.st_size, sb.st_mtime_ns)


def _cache_key(prefix: Path, bytecode: bool) -> str:
    parts = [RECIPE_VERSION, str(prefix), f"bytecode={bytecode}"]
    # An upgraded or reinstalled interpreter changes these mtimes.
    probes = [prefix / "bin", *sorted(prefix.glob("lib/python3*/site-packages")), *prefix.glob("lib/*.so*")]
    for probe in sorted(probes):
        try:
            parts.append(f"{probe.name}:{probe.stat().st_mtime_ns}")
        except OSError:
            continue
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _write_archive(prefix: Path, dest: Path, bytecode: bool) -> None:
    if not (prefix / "bin").is_dir() or not any(prefix.glob("lib/python3*/os.py")):
        raise ValueError(f"{prefix} does not look like a Python install prefix (no bin/, lib/python3*/os.py)")
    # Staged and written next to dest, then renamed: concurrent test sessions never see a
    # partial file, and the byte-code is compiled without touching the interpreter's files.
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as staging_dir:
        staging = Path(staging_dir) / "prefix"
        _stage(prefix, staging)
        if bytecode:
            _compile_stdlib(prefix, staging)
        tmp = Path(staging_dir) / "archive.tar.zst"
        with tmp.open("wb") as raw:
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
            with (
                compressor.stream_writer(raw, closefd=False) as zst,
                tarfile.open(fileobj=zst, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                for path, arcname in _walk(staging):
                    _add(tar, path, arcname)
        os.replace(tmp, dest)


def _stage(prefix: Path, staging: Path) -> None:
    """Links (or copies) every kept file of `prefix` into `staging`, symlinks as symlinks."""
    for root, dirs, files in os.walk(prefix):
        rel_root = PurePosixPath(Path(root).relative_to(prefix).as_posix())
        dirs[:] = [d for d in dirs if _keep(rel_root / d, is_dir=True)]
        target_root = staging.joinpath(*rel_root.parts)
        target_root.mkdir(parents=True, exist_ok=True)
        for name in [*files, *(d for d in dirs if Path(root, d).is_symlink())]:
            if not _keep(rel_root / name, is_dir=False):
                continue
            source, target = Path(root, name), target_root / name
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
                continue
            try:
                os.link(source, target)  # compileall only adds files: links are safe
            except OSError:
                shutil.copy2(source, target)
        dirs[:] = [d for d in dirs if not Path(root, d).is_symlink()]


def _compile_stdlib(prefix: Path, staging: Path) -> None:
    """Byte-code by the archived interpreter (its magic number), unchecked-hash, level 0 only."""
    (stdlib,) = staging.glob("lib/python3*/os.py")
    cmd = [
        str(prefix / "bin" / "python3"), "-I", "-m", "compileall", "-q", "-j", "0",
        "--invalidation-mode", "unchecked-hash",
        # The build path must not end up in the byte-code: name the files as in the archive.
        "-d", str(PurePosixPath("lib", stdlib.parent.name)),
        str(stdlib.parent),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env={"PATH": os.defpath, "PYTHONHASHSEED": "0"})
    if proc.returncode != 0:
        raise RuntimeError(f"compiling the standard library of {prefix} failed:\n{proc.stdout}{proc.stderr}")


def _walk(root: Path) -> Iterator[tuple[Path, str]]:
    """Every path under `root` with its archive name, sorted, directories first."""
    for current, dirs, files in os.walk(root):
        rel_root = PurePosixPath(Path(current).relative_to(root).as_posix())
        dirs.sort()
        if rel_root.parts:
            yield Path(current), str(rel_root)
        for name in sorted(files):
            yield Path(current, name), str(rel_root / name)
        # Symlinks to directories are listed in `dirs` but not walked: add them as links.
        for name in dirs:
            if Path(current, name).is_symlink():
                yield Path(current, name), str(rel_root / name)
        dirs[:] = [d for d in dirs if not Path(current, d).is_symlink()]


def _keep(rel: PurePosixPath, *, is_dir: bool) -> bool:
    parts = rel.parts
    if "__pycache__" in parts or rel.suffix in (".pyc", ".a"):
        return False  # the interpreter's own byte-code: ours is compiled from what is kept
    if parts[0] == "bin" and len(parts) == 2:
        return bool(_KEPT_BIN.match(parts[1]))
    if len(parts) >= 3 and parts[0] == "lib" and parts[1].startswith("python3"):
        if is_dir and parts[-1] in _TEST_DIRS:
            return False
        if parts[2] == "site-packages":
            return len(parts) == 3 or (len(parts) == 4 and parts[3] in _KEPT_SITE_PACKAGES)
    return True


def _add(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    info = tar.gettarinfo(str(path), arcname=arcname)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode &= 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    if not info.isreg():
        tar.addfile(info)
        return
    with path.open("rb") as fh:
        tar.addfile(info, fh)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
