"""Safe, streaming extraction of `.tar.zst` runtime archives.

The archive comes from the network, so every member is checked before anything is written:
no absolute paths, no `..`, no links leading outside the destination, no device files or
FIFOs. Modes (exec bits) are kept, ownership is not. Extraction happens in a sibling
temporary directory renamed into place at the end: the destination ends up either complete
or untouched.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import os
import queue
import shutil
import stat
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import zstandard

from ..errors import BuildError
from .tar_writer import TarWriter

_CHUNK = 1 << 20
# Accept archives made with `zstd --long` (windows up to 2 GiB).
_MAX_WINDOW = 1 << 31
# Decompressed chunks read ahead of the extraction, and how long closing waits for the reader.
_AHEAD = 8
_JOIN_TIMEOUT = 5.0


class _Unsafe(Exception):
    """A member that must not be extracted; the message names it and why."""


def extract_tar_zst(archive: Path, dest: Path, *, links_outside: bool = False) -> None:
    """Extracts `archive` so that its top level becomes `dest`.

    `dest` must be absent or an empty directory; on any failure it is left as it was and
    the error is a BuildError naming the offending member. `links_outside`: symbolic links may
    lead outside `dest` (a venv's `bin/python` leads to the runtime layer), for the archives
    the buildpack packed itself; no member is ever written through a link.
    """
    staging = new_staging(dest)
    try:
        with archive.open("rb") as raw:
            extract_stream(raw, staging, archive.name, links_outside=links_outside)
        commit(staging, dest)
    except BaseException:
        discard(staging)
        raise


def extract_in_two(archive: Path, dest: Path, rest: Path, leading: int, is_leading: Callable[[str], bool],
                   on_leading: Callable[[], None]) -> bool:  # fmt: skip
    """Extracts the archive's first `leading` members as `extract_tar_zst` does (with links
    outside allowed), calls `on_leading` once `dest` has them, then the other members into
    `rest` (absent; its parent exists), whose half-written files stay for the caller after a
    failure.
    `is_leading` must hold for exactly the first members: a BuildError otherwise. Whether
    there were other members (`on_leading` is called only then)."""
    staging = new_staging(dest)
    try:
        with archive.open("rb") as raw, _ReadAhead(_decompressed(raw)) as ahead, \
                tarfile.open(fileobj=ahead, mode="r|") as tar:
            members = iter(tar)
            try:
                count = _extract_members(tar, staging, True, _checked(itertools.islice(members, leading), is_leading))
                if count == 0:
                    raise _corrupt(archive.name, "it contains no files")
                following = next(members, None)
                commit(staging, dest)
            except BaseException:
                discard(staging)
                raise
            if following is None:
                return False
            on_leading()
            rest.mkdir(mode=0o755)
            others = _checked(itertools.chain([following], members), lambda name: not is_leading(name))
            _extract_members(tar, rest, True, others)
    except _Unsafe as exc:
        raise _corrupt(archive.name, str(exc)) from None
    except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
        raise _corrupt(archive.name, str(exc) or type(exc).__name__) from None
    except OSError as exc:
        raise write_error(archive.name, dest.parent, exc) from None
    return True


def _checked(members: Iterable[tarfile.TarInfo], wanted: Callable[[str], bool]) -> Iterator[tarfile.TarInfo]:
    for member in members:
        if not wanted(_safe_name(member.name) or ""):
            raise _Unsafe(f"{member.name!r} is out of its place in the archive")
        yield member


def members_tar_zst(archive: Path) -> list[str]:
    """The names of the archive's files and links, read through to its end: a BuildError when
    it is damaged, before anything is written from it."""
    try:
        # A stream read moves past each member's data, decompressing (and checking) all of it.
        with archive.open("rb") as raw, tarfile.open(fileobj=_decompressed(raw), mode="r|") as tar:
            names = [member.name for member in tar if not member.isdir()]
    except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
        raise _corrupt(archive.name, str(exc) or type(exc).__name__) from None
    except OSError as exc:
        raise _corrupt(archive.name, exc.strerror or str(exc)) from None
    return names


def _decompressed(source: IO[bytes]) -> IO[bytes]:
    return zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW).stream_reader(source, read_across_frames=True)


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


def extract_stream(source: IO[bytes], root: Path, name: str, *, links_outside: bool = False) -> None:
    """Extracts the `.tar.zst` read from `source` into the directory `root`, checking each member.

    `source` is read sequentially (a file or a network stream); `name` is the archive's file
    name for the errors. Failures are BuildErrors; `root` is then left partly written, for the
    caller to discard. Exceptions raised by `source.read` itself propagate as they are.
    """
    try:
        with _ReadAhead(_decompressed(source)) as ahead, tarfile.open(fileobj=ahead, mode="r|") as tar:
            count = _extract_members(tar, root, links_outside)
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


class _ReadAhead(io.RawIOBase):
    """`source` read by a thread of its own, a few chunks ahead of the extraction.

    Decompression (and, when streaming, the download and its hash) then runs while this
    thread writes files: zstd, hashlib and sockets release the GIL, so two cores share the
    work. What `source.read` raises is raised again here, the same exception. Leaving the
    `with` block stops the thread and waits for it, so that nothing else reads `source` while
    it still does (after a failure it is not waited for: it stops at its next read or put).
    """

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__()
        self._source = source
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(_AHEAD)
        self._stop = threading.Event()
        self._pending = memoryview(b"")
        self._ended = False
        self._thread = threading.Thread(target=self._read_all, name="archive-read-ahead", daemon=True)
        self._thread.start()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            if self._ended:
                return 0
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            if not item:
                self._ended = True
                return 0
            self._pending = memoryview(item)
        size = min(len(buffer), len(self._pending))
        memoryview(buffer).cast("B")[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if exc_info[0] is None:  # after a failure, the reader ends at its next read or put
            self._thread.join(timeout=_JOIN_TIMEOUT)
        self.close()

    def _read_all(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self._source.read(_CHUNK)
                self._put(chunk)
                if not chunk:
                    return
        except BaseException as exc:  # handed to the extracting thread, which raises it
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue


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


def _extract_members(tar: tarfile.TarFile, root: Path, links_outside: bool = False,
                     members: Iterable[tarfile.TarInfo] | None = None) -> int:  # fmt: skip
    """Writes `members` (default: all of `tar`'s) under `root`; the count written."""
    real_root = os.path.realpath(root)
    # Directories known to be real (no link on the way) inside the root: a member under one needs
    # no check of its parent. None of them can change, since no member may replace a directory.
    real_dirs = {real_root}
    written: set[str] = set()  # the members' paths so far: anything else at a path is a directory
    directories: list[tuple[str, int]] = []
    links: list[tuple[str, str]] = []
    count = 0
    for member in tar if members is None else members:
        relative = _safe_name(member.name)
        if relative is None:
            continue  # the archive's own top directory ("./")
        target = f"{real_root}/{relative}"
        parent = target.rpartition("/")[0]
        if parent not in real_dirs:
            _check_inside(real_root, parent, member.name, "is inside a link that leads outside")
            os.makedirs(parent, exist_ok=True)  # archives may omit directory entries
            _add_real_dirs(real_dirs, real_root, os.path.realpath(parent))
        if target in written or target in real_dirs:
            _clear(target, member)
        written.add(target)
        if member.isdir():
            os.makedirs(target, exist_ok=True)
            directories.append((target, member.mode))
            if parent in real_dirs:
                real_dirs.add(target)
        elif member.isreg():
            _write_file(tar, member, target)
        elif member.issym():
            if not links_outside:
                _check_link(real_root, target, member)
                links.append((target, member.name))
            os.symlink(member.linkname, target)
        elif member.islnk():
            source = _safe_name(member.linkname)
            if source is None:
                raise _Unsafe(f"{member.name!r} is a hard link to {member.linkname!r}")
            source_path = f"{real_root}/{source}"
            _check_inside(real_root, source_path, member.name, f"is a hard link to {member.linkname!r}")
            if not os.path.isfile(source_path) or os.path.islink(source_path):
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


def _add_real_dirs(real_dirs: set[str], real_root: str, real: str) -> None:
    """Adds `real` (a resolved directory inside the root) and its parents up to the root."""
    while real not in real_dirs and real.startswith(real_root + "/"):
        real_dirs.add(real)
        real = real.rpartition("/")[0]


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr() or member.isblk():
        return "device file"
    return "FIFO" if member.isfifo() else f"special entry (type {member.type!r})"


def _safe_name(name: str) -> str | None:
    """`name` without `.` parts, or None for the archive's top directory; refused when unsafe."""
    if name.startswith("/"):
        raise _Unsafe(f"{name!r} has an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _Unsafe(f"{name!r} contains '..'")
    return "/".join(parts) or None


def _check_inside(real_root: str, path: str, name: str, problem: str) -> None:
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise _Unsafe(f"{name!r} {problem} ({real})")


def _check_link(real_root: str, target: str, member: tarfile.TarInfo) -> None:
    link = member.linkname
    if not link or link.startswith("/"):
        raise _Unsafe(f"{member.name!r} is a symbolic link to the absolute path {link!r}")
    # Resolved against what is already extracted, so chains of links are followed too.
    parent = target.rpartition("/")[0]
    _check_inside(real_root, f"{parent}/{link}", member.name, f"is a symbolic link to {link!r}, outside")


def _clear(target: str, member: tarfile.TarInfo) -> None:
    """Removes an earlier entry of the same name (tar semantics: the last one wins)."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        if not member.isdir():
            raise _Unsafe(f"{member.name!r} replaces a directory of the same name")
    else:
        os.unlink(target)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str) -> None:
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - isreg() members always have data
        raise _Unsafe(f"{member.name!r} has no data")
    # O_EXCL + O_NOFOLLOW: never write through a link planted by an earlier member.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
        os.fchmod(fd, member.mode & 0o777)
        with contextlib.suppress(OSError, OverflowError):
            os.utime(fd, (member.mtime, member.mtime))


def pack_tar_zst(source: Path, dest: Path, *, level: int = 3, only: Iterable[str] | None = None,
                 first: Callable[[str], bool] | None = None) -> int:  # fmt: skip
    """Packs the tree `source` into the `.tar.zst` file `dest` (its top level: `source`'s
    content), atomically: `dest` is whole or absent. Modes and links are kept, ownership and
    times are not (the layer a packed tree returns to gets the export's normalised times).
    Compressed on every core: packing a venv is on the critical path of the builds that
    change it. `only`: these files and links of the tree (relative paths), without their
    directories (extraction makes them). `first`: the entries it holds for come before the
    others (`extract_in_two`); returns how many."""
    entries: Iterable[tuple[str, str]] = _walk(source) if only is None else \
        ((os.path.join(source, p), p) for p in sorted(only))  # fmt: skip
    leading = 0
    if first is not None:
        listed = list(entries)
        ahead = [entry for entry in listed if first(entry[1])]
        leading = len(ahead)
        entries = itertools.chain(ahead, (entry for entry in listed if not first(entry[1])))
    partial = dest.with_name(f".{dest.name}.partial")
    compressor = _compressor(level)
    try:
        with _packing, partial.open("wb") as raw, compressor.stream_writer(raw) as compressed:
            tar = TarWriter(compressed)
            for path, relative in entries:
                tar.add(path, relative)
            tar.close()
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return leading


_packing = threading.Lock()  # the shared compressor serves one packing at a time


@functools.cache
def _compressor(level: int) -> zstandard.ZstdCompressor:
    # One per level for the process: a build packing a dozen layers would otherwise make a
    # dozen worker pools, whose buffers the allocator keeps (hundreds of MB of peak RSS).
    return zstandard.ZstdCompressor(level=level, threads=-1)


def _walk(root: Path) -> Iterator[tuple[str, str]]:
    """Every entry under `root` (not `root` itself), directories before their content."""
    stack = [(os.fspath(root), "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                relative = f"{prefix}{entry.name}"
                yield entry.path, relative
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{relative}/"))
