"""A private Python runtime mirror built from local interpreters.

The production download host is out of reach for tests and local builds, so this module
packs an installed interpreter prefix into the same `.tar.zst` layout the real mirror
serves (top level = install prefix), writes a runtime catalogue for it, and serves a
directory over loopback HTTP, with per-path fault injection for the reliability tests.

The archives are packed the way the production ones are made, so that tests and benchmarks
take the path production takes: no pip (nor anything else) in site-packages, the standard
library's byte-code compiled by the archived interpreter itself with unchecked-hash
invalidation (one optimisation level only), no test suites, and no idle/pydoc/2to3/pip
scripts. `bytecode=False` makes an archive without byte-code, to measure that fallback.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import tomli_w
import zstandard

from python_buildpack.stacks import archive_name

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
