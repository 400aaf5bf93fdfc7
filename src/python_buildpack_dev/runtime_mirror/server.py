"""The runtime mirror's loopback HTTP server, with per-path fault injection (reliability tests).

It serves a directory on 127.0.0.1 as the real mirror serves its archives: GET and HEAD, byte
ranges ignored; a `Faults` schedule makes chosen paths fail, hang or drop mid-body.
"""

from __future__ import annotations

import http.server
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


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
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="runtime-mirror", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
