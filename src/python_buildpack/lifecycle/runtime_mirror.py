"""A private Python runtime mirror built from local interpreters.

The production download host is out of reach for tests and local builds, so this module
packs an installed interpreter prefix into the same `.tar.zst` layout the real mirror
serves (top level = install prefix), writes a runtime catalogue for it, and serves a
directory over loopback HTTP, with per-path fault injection for the reliability tests.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import tomli_w
import zstandard

# Bump when the packing rules change so cached archives are rebuilt.
RECIPE_VERSION = "1"
# Fixed member mtime (2024-01-01) so identical inputs give byte-identical archives.
FIXED_MTIME = 1704067200
ZSTD_LEVEL = 3

# site-packages content kept in the runtime (the real archives ship pip inside).
_KEPT_SITE_PACKAGES = re.compile(
    r"^(pip|setuptools|pkg_resources|_distutils_hack)(-[^/]*\.dist-info)?$|^distutils-precedence\.pth$"
)
# bin/ entries that belong to CPython or pip; other console scripts come from packages we drop.
_KEPT_BIN = re.compile(r"^(python|pip|pydoc|2to3)(-?[0-9.]+)?(-config)?$")
# Test suites inside the standard library (test/, idlelib/idle_test/, tkinter/test/, ...).
_TEST_DIRS = {"test", "tests", "idle_test"}
# GUI tools and demos no web app runs.
_DROPPED_STDLIB = {"idlelib", "turtledemo"}


def archive_name(version: str, ubuntu_version: str, arch: str) -> str:
    return f"python-{version}-ubuntu-{ubuntu_version}-{arch}.tar.zst"


def make_runtime_archive(
    prefix: Path,
    dest_dir: Path,
    version: str,
    ubuntu_version: str,
    arch: str,
    *,
    cache_dir: Path | None = None,
) -> Path:
    """Packs the interpreter installed in `prefix` as `dest_dir/python-…-{arch}.tar.zst`.

    The labels (version, Ubuntu version, arch) only name the file: the caller vouches for
    them. With `cache_dir`, the archive is built once per prefix (and packing recipe, and
    state of the interpreter's files) and copied from there afterwards; copied rather than
    linked so a test that corrupts its copy cannot poison the cache.
    """
    prefix = prefix.resolve()
    name = archive_name(version, ubuntu_version, arch)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / name
    if cache_dir is None:
        _write_archive(prefix, dest)
        return dest
    cached = cache_dir / f"{_cache_key(prefix)}.tar.zst"
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        _write_archive(prefix, cached)
    if not _same_file_stat(cached, dest):
        shutil.copy2(cached, dest)  # keeps the mtime: the next call sees an up-to-date copy
    return dest


def _same_file_stat(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_size, sa.st_mtime_ns) == (sb.st_size, sb.st_mtime_ns)


def _cache_key(prefix: Path) -> str:
    parts = [RECIPE_VERSION, str(prefix)]
    # An upgraded or reinstalled interpreter changes these mtimes.
    probes = [prefix / "bin", *sorted(prefix.glob("lib/python3*/site-packages")), *prefix.glob("lib/*.so*")]
    for probe in sorted(probes):
        try:
            parts.append(f"{probe.name}:{probe.stat().st_mtime_ns}")
        except OSError:
            continue
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _write_archive(prefix: Path, dest: Path) -> None:
    if not (prefix / "bin").is_dir() or not any(prefix.glob("lib/python3*/os.py")):
        raise ValueError(f"{prefix} does not look like a Python install prefix (no bin/, lib/python3*/os.py)")
    # Written next to dest and renamed: concurrent test sessions never see a partial file.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
            with (
                compressor.stream_writer(raw, closefd=False) as zst,
                tarfile.open(fileobj=zst, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                for path, arcname in _members(prefix):
                    _add(tar, prefix, path, arcname)
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _members(prefix: Path) -> Iterator[tuple[Path, str]]:
    """Every kept path under `prefix` with its archive name, sorted, directories first."""
    for root, dirs, files in os.walk(prefix):
        rel_root = PurePosixPath(Path(root).relative_to(prefix).as_posix())
        dirs[:] = sorted(d for d in dirs if _keep(rel_root / d, is_dir=True, prefix=prefix))
        if rel_root.parts:
            yield Path(root), str(rel_root)
        for name in sorted(files):
            rel = rel_root / name
            if _keep(rel, is_dir=False, prefix=prefix):
                yield Path(root, name), str(rel)
        # Symlinks to directories are listed in `dirs` but not walked: add them as links.
        for name in dirs:
            if Path(root, name).is_symlink():
                yield Path(root, name), str(rel_root / name)
        dirs[:] = [d for d in dirs if not Path(root, d).is_symlink()]


def _keep(rel: PurePosixPath, *, is_dir: bool, prefix: Path) -> bool:
    parts = rel.parts
    if "__pycache__" in parts or rel.suffix in (".pyc", ".a"):
        return False
    if parts[0] == "bin" and len(parts) == 2:
        return bool(_KEPT_BIN.match(parts[1]))
    if len(parts) >= 3 and parts[0] == "lib" and parts[1].startswith("python3"):
        if parts[2] in _DROPPED_STDLIB or (is_dir and parts[-1] in _TEST_DIRS):
            return False
        if parts[2] == "site-packages":
            return len(parts) == 3 or bool(_KEPT_SITE_PACKAGES.match(parts[3]))
    return True


def _add(tar: tarfile.TarFile, prefix: Path, path: Path, arcname: str) -> None:
    info = tar.gettarinfo(str(path), arcname=arcname)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode &= 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    if not info.isreg():
        tar.addfile(info)
        return
    with path.open("rb") as fh:
        if arcname.startswith("bin/"):
            content = _relocatable_script(fh, prefix)
            if content is not None:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
                return
            fh.seek(0)
        tar.addfile(info, fh)


def _relocatable_script(fh: BinaryIO, prefix: Path) -> bytes | None:
    """A script whose shebang names the host prefix (pip, pydoc), made to use PATH instead.

    Left as is, an extracted `bin/pip` would silently run the host interpreter.
    """
    head = fh.read(2 + len(str(prefix)) + 5)
    if not head.startswith(b"#!" + str(prefix).encode() + b"/bin/"):
        return None
    fh.seek(0)
    first, _, rest = fh.read().partition(b"\n")
    interpreter = first.rsplit(b"/", 1)[1]
    return b"#!/usr/bin/env " + interpreter + b"\n" + rest


def write_catalog(
    path: Path,
    stacks: Mapping[str, Mapping[str, str]],
    default: str,
    artifacts: Mapping[str, str] | None = None,
) -> Path:
    """Writes a runtime catalogue (issue 3 format) for `BP_PYTHON_RUNTIME_CATALOG`.

    `stacks`: {"scalingo-22": {"3.11": "3.11.7"}}; `artifacts`: {archive file name: sha256}.
    """
    data: dict[str, object] = {
        "default": default,
        "stacks": {stack: dict(versions) for stack, versions in stacks.items()},
    }
    if artifacts:
        data["artifacts"] = [{"file": name, "sha256": digest} for name, digest in sorted(artifacts.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- loopback server with fault injection ---------------------------------------------------


@dataclass
class Fault:
    """What to do to the next `times` requests for one path (`times=None`: all of them).

    `hang` seconds of silence before the response (or, with `drop_after`, after the bytes
    sent); `status` replaces the file with an error reply; `drop_after` announces the full
    Content-Length, sends that many bytes of the body and closes the connection.
    """

    status: int | None = None
    drop_after: int | None = None
    hang: float = 0.0
    times: int | None = 1


@dataclass
class Faults:
    """Per-path fault schedule shared with the server threads; also records requests."""

    _pending: dict[str, list[Fault]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, fault: Fault) -> None:
        """Queues `fault` for URL `path` ("/python-….tar.zst" or just the file name)."""
        with self._lock:
            self._pending.setdefault(_url_path(path), []).append(fault)

    def fail(self, path: str, status: int, times: int | None = 1) -> None:
        self.add(path, Fault(status=status, times=times))

    def drop(self, path: str, after: int, times: int | None = 1) -> None:
        self.add(path, Fault(drop_after=after, times=times))

    def hang(self, path: str, seconds: float, times: int | None = 1) -> None:
        self.add(path, Fault(hang=seconds, times=times))

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def count(self, path: str) -> int:
        """How many requests (any method) the server received for `path`."""
        with self._lock:
            return self.requests.count(_url_path(path))

    def record(self, path: str) -> Fault | None:
        """Logs a request for `path` and returns the fault to apply to it, if any."""
        with self._lock:
            self.requests.append(path)
            queue = self._pending.get(path)
            if not queue:
                return None
            fault = queue[0]
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
            return fault


def _url_path(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # Hanging handlers must not delay shutdown: they watch `stopping` instead.
    block_on_close = False

    def __init__(self, directory: Path, faults: Faults) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.directory = directory.resolve()
        self.faults = faults
        self.stopping = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that timed out or gave up is what the fault tests provoke: stay quiet.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests read `Faults.requests`; the build log must stay clean

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def _respond(self, *, send_body: bool) -> None:
        url_path = self.path.split("?", 1)[0]
        fault = self.server.faults.record(url_path)
        if fault and fault.hang and fault.drop_after is None and self.server.stopping.wait(fault.hang):
            self.close_connection = True
            return
        if fault and fault.status is not None:
            self._reply_error(fault.status, f"injected failure for {url_path}\n", send_body)
            return
        file = self._resolve(url_path)
        if file is None:
            self._reply_error(404, f"{url_path} not found\n", send_body)
            return
        size = file.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if not send_body:
            return
        limit = fault.drop_after if fault and fault.drop_after is not None else None
        self._send_file(file, limit)
        if limit is not None:
            if fault and fault.hang:
                self.server.stopping.wait(fault.hang)
            self.close_connection = True

    def _resolve(self, url_path: str) -> Path | None:
        relative = PurePosixPath(url_path.lstrip("/"))
        if not relative.parts or ".." in relative.parts:
            return None
        candidate = self.server.directory.joinpath(*relative.parts).resolve()
        if not candidate.is_relative_to(self.server.directory):
            return None  # a link out of the served directory
        try:
            mode = candidate.stat().st_mode
        except OSError:
            return None
        return candidate if stat.S_ISREG(mode) else None

    def _send_file(self, file: Path, limit: int | None) -> None:
        remaining = limit
        try:
            with file.open("rb") as fh:
                while chunk := fh.read(64 * 1024 if remaining is None else min(64 * 1024, remaining)):
                    self.wfile.write(chunk)
                    if remaining is not None:
                        remaining -= len(chunk)
                        if remaining <= 0:
                            break
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout test); nothing to do

    def _reply_error(self, status: int, message: str, send_body: bool) -> None:
        body = message.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


@contextmanager
def serve(directory: Path, faults: Faults | None = None) -> Iterator[str]:
    """Serves `directory` on 127.0.0.1 (ephemeral port); yields the base URL (no trailing /).

    Pass a `Faults` object to inject failures; it can be changed while the server runs.
    """
    server = _Server(directory, faults if faults is not None else Faults())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="runtime-mirror", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
