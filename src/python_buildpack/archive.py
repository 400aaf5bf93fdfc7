"""Safe, streaming extraction of `.tar.zst` runtime archives.

The archive comes from the network, so every member is checked before anything is written:
no absolute paths, no `..`, no links leading outside the destination, no device files or
FIFOs. Modes (exec bits) are kept, ownership is not. Extraction happens in a sibling
temporary directory renamed into place at the end: the destination ends up either complete
or untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO

import zstandard

from .errors import BuildError

_CHUNK = 1 << 20
# Accept archives made with `zstd --long` (windows up to 2 GiB).
_MAX_WINDOW = 1 << 31


class _Unsafe(Exception):
    """A member that must not be extracted; the message names it and why."""


def extract_tar_zst(archive: Path, dest: Path) -> None:
    """Extracts `archive` so that its top level becomes `dest`.

    `dest` must be absent or an empty directory; on any failure it is left as it was and
    the error is a BuildError naming the offending member.
    """
    staging = new_staging(dest)
    try:
        with archive.open("rb") as raw:
            extract_stream(raw, staging, archive.name)
        commit(staging, dest)
    except BaseException:
        discard(staging)
        raise


def new_staging(dest: Path) -> Path:
    """An empty directory next to `dest` to extract into, then `commit` or `discard`.

    `dest` must be absent or an empty directory (ValueError otherwise).
    """
    if dest.is_dir() and any(dest.iterdir()):
        raise ValueError(f"extraction target {dest} is not empty")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the runtime from other users
    except BaseException:
        discard(staging)
        raise
    return staging


def commit(staging: Path, dest: Path) -> None:
    """Puts a finished extraction in place: `dest` (absent or empty) becomes `staging`."""
    if dest.is_dir():
        dest.rmdir()
    staging.rename(dest)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def extract_stream(source: IO[bytes], root: Path, name: str) -> None:
    """Extracts the `.tar.zst` read from `source` into the directory `root`, checking each member.

    `source` is read sequentially (a file or a network stream); `name` is the archive's file
    name for the errors. Failures are BuildErrors; `root` is then left partly written, for the
    caller to discard. Exceptions raised by `source.read` itself propagate as they are.
    """
    try:
        reader = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW).stream_reader(source, read_across_frames=True)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            count = _extract_members(tar, root)
    except _Unsafe as exc:
        raise BuildError(
            f"The Python runtime archive {name} is unsafe: {exc}",
            "Nothing was installed. The archive contains an entry that would be written outside "
            "the runtime directory or is a special file; runtime archives never contain such "
            "entries. If you serve runtimes from your own mirror (BP_PYTHON_RUNTIME_BASE_URL), "
            "rebuild that archive from the install prefix (top level bin/, lib/, ...).",
        ) from None
    except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
        raise _corrupt(name, str(exc) or type(exc).__name__) from None
    except OSError as exc:
        raise write_error(name, root.parent, exc) from None
    if count == 0:
        raise _corrupt(name, "it contains no files")


def write_error(name: str, directory: Path, exc: OSError) -> BuildError:
    """Extracting archive `name` into `directory` failed with `exc` (full disk, permissions)."""
    return BuildError(
        f"Could not extract the Python runtime archive {name}",
        f"Writing into {directory} failed: {exc}. Check that the build environment has "
        "free disk space and that this directory is writable.",
    )


def _corrupt(name: str, why: str) -> BuildError:
    return BuildError(
        f"The Python runtime archive {name} is corrupt: {why}",
        "Nothing was installed. The download may have been altered on the way or the mirror "
        "holds a damaged file. Retry the build; if it keeps failing and you use your own mirror "
        "(BP_PYTHON_RUNTIME_BASE_URL), upload the archive again.",
    )


def _extract_members(tar: tarfile.TarFile, root: Path) -> int:
    real_root = os.path.realpath(root)
    directories: list[tuple[Path, int]] = []
    links: list[tuple[Path, str]] = []
    count = 0
    for member in tar:
        relative = _safe_name(member.name)
        if relative is None:
            continue  # the archive's own top directory ("./")
        target = root.joinpath(*relative.parts)
        _check_inside(real_root, target.parent, member.name, "is inside a link that leads outside")
        target.parent.mkdir(parents=True, exist_ok=True)  # archives may omit directory entries
        _clear(target, member)
        if member.isdir():
            target.mkdir(exist_ok=True)
            directories.append((target, member.mode))
        elif member.isreg():
            _write_file(tar, member, target)
        elif member.issym():
            _check_link(real_root, target, member)
            os.symlink(member.linkname, target)
            links.append((target, member.name))
        elif member.islnk():
            source = _safe_name(member.linkname)
            if source is None:
                raise _Unsafe(f"{member.name!r} is a hard link to {member.linkname!r}")
            source_path = root.joinpath(*source.parts)
            _check_inside(real_root, source_path, member.name, f"is a hard link to {member.linkname!r}")
            if not source_path.is_file() or source_path.is_symlink():
                raise _Unsafe(f"{member.name!r} is a hard link to {member.linkname!r}, not an earlier file")
            os.link(source_path, target)
        else:
            raise _Unsafe(f"{member.name!r} is a {_kind(member)}, not a file, directory or link")
        count += 1
    # Links checked one by one can still combine into an escape (a link through a link
    # created later): check them again on the finished tree.
    for path, name in links:
        _check_inside(real_root, path, name, "is a symbolic link that leads outside")
    # Directory modes last: a read-only directory would refuse its own children.
    for path, mode in reversed(directories):
        os.chmod(path, (mode & 0o777) | 0o700)
    return count


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr() or member.isblk():
        return "device file"
    return "FIFO" if member.isfifo() else f"special entry (type {member.type!r})"


def _safe_name(name: str) -> PurePosixPath | None:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        raise _Unsafe(f"{name!r} has an absolute path")
    if ".." in path.parts:
        raise _Unsafe(f"{name!r} contains '..'")
    parts = [part for part in path.parts if part != "."]
    return PurePosixPath(*parts) if parts else None


def _check_inside(real_root: str, path: Path, name: str, problem: str) -> None:
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise _Unsafe(f"{name!r} {problem} ({real})")


def _check_link(real_root: str, target: Path, member: tarfile.TarInfo) -> None:
    link = member.linkname
    if not link or link.startswith("/"):
        raise _Unsafe(f"{member.name!r} is a symbolic link to the absolute path {link!r}")
    # Resolved against what is already extracted, so chains of links are followed too.
    _check_inside(real_root, target.parent / link, member.name, f"is a symbolic link to {link!r}, outside")


def _clear(target: Path, member: tarfile.TarInfo) -> None:
    """Removes an earlier entry of the same name (tar semantics: the last one wins)."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir() and not member.isdir():
        raise _Unsafe(f"{member.name!r} replaces a directory of the same name")


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - isreg() members always have data
        raise _Unsafe(f"{member.name!r} has no data")
    # O_EXCL + O_NOFOLLOW: never write through a link planted by an earlier member.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
    os.chmod(target, member.mode & 0o777)
    with contextlib.suppress(OSError, OverflowError):
        os.utime(target, (member.mtime, member.mtime))
