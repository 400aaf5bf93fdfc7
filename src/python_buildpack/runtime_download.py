"""Downloading Python runtime archives: where they are, and a careful streaming fetch.

The archive is streamed to a `.part` file next to the destination while its sha256 is
computed, checked against the catalogue's pin, then renamed: a failed download never
leaves a file that looks complete. The pinning command streams archives through the hash
only (`archive_sha256`), with the same retries. The runtime install streams the archive
straight into its extraction (`download_and_extract`): the bytes are hashed, decompressed and
unpacked as they arrive, into a staging directory renamed into place only once the whole body
matched the pin. Transient failures (connection errors, timeouts,
truncated bodies, 5xx) are retried a few times with exponential back-off; a 4xx is not.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypedDict, cast
from urllib.parse import urlsplit

import httpx

from . import output
from .errors import BuildError
from .stacks import BASE_URL_SETTING, LEGACY_BASE_URL_SETTING, archive_name
from .stacks import MIRROR_HINT as _MIRROR_HINT

if TYPE_CHECKING:
    from typing_extensions import Unpack

DEFAULT_BASE_URL = "https://python-binaries.scalingo.com"
BASE_URL_VARIABLES = (BASE_URL_SETTING, LEGACY_BASE_URL_SETTING)  # new name first

_CHUNK = 1 << 20
# Extracting while downloading: small chunks keep the extraction close behind the network.
_STREAM_CHUNK = 1 << 16
# Statuses that mean "try again later" although they are 4xx.
_RETRYABLE_4XX = {408, 429}


def runtime_url(base_url: str, version: str, ubuntu_version: str, arch: str) -> str:
    return f"{base_url.rstrip('/')}/{archive_name(version, ubuntu_version, arch)}"


def base_url(settings: Mapping[str, str]) -> str:
    """The runtime mirror from the user's settings (process env + platform env), else the default."""
    for name in BASE_URL_VARIABLES:
        value = settings.get(name, "").strip()
        if value:
            return checked_base_url(value, name, f"Fix the value or unset {name} to use the default mirror.")
    return DEFAULT_BASE_URL


def checked_base_url(value: str, name: str, fix: str) -> str:
    """`value` without its trailing slash, or a BuildError naming `name` (where it was set)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BuildError(
            f"Invalid {name}: {value!r}",
            f"{name} must be an http:// or https:// URL, for example {DEFAULT_BASE_URL}. "
            "Runtime archives are downloaded from "
            f"<URL>/python-<version>-ubuntu-<ubuntu version>-<arch>.tar.zst. {fix}",
        )
    return value.rstrip("/")


class MissingArchiveError(BuildError):
    """The mirror answered that the archive does not exist (HTTP 403 or 404)."""

    def __init__(self, title: str, details: str, *, reason: str) -> None:
        super().__init__(title, details)
        self.reason = reason  # the HTTP status line


class _Failure(Exception):
    """One failed attempt: what happened (for the log and the final error) and whether to retry."""

    def __init__(self, reason: str, retry: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.status = status


class Options(TypedDict, total=False):
    """How a download tries: `attempts` bounds the tries; the wait before try n+1 is
    `backoff * 2**(n-1)` seconds, at most `max_backoff`. `read_timeout` is the longest silence
    accepted from the server. A progress line is logged every `progress_interval` seconds of a
    slow download. `hint` is appended to error explanations (e.g. which versions the stack offers).
    """

    attempts: int
    connect_timeout: float
    read_timeout: float
    backoff: float
    max_backoff: float
    progress_interval: float
    hint: str


@dataclass(frozen=True)
class _Settings:
    """`Options` with their defaults."""

    attempts: int = 4
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    backoff: float = 1.0
    max_backoff: float = 20.0
    progress_interval: float = 2.0
    hint: str = ""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_timeout, connect=self.connect_timeout, pool=self.connect_timeout)


def download(url: str, dest: Path, *, sha256: str | None, **options: Unpack[Options]) -> str:
    """Downloads `url` to `dest` and returns the sha256 (hex) of its content.

    `sha256`, when given, must match or the build fails (and `dest` is not written).
    See `Options` for retries, timeouts and progress.
    """
    settings = _Settings(**options)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.part")

    def save(chunks: Iterator[bytes]) -> None:
        with partial.open("wb") as out:  # each attempt starts the file over
            for chunk in chunks:
                out.write(chunk)

    try:
        digest = _fetch(url, save, _CHUNK, settings)
        if sha256 is not None and digest != sha256.strip().lower():
            raise _checksum_error(url, sha256.strip().lower(), digest, settings.hint)
        partial.replace(dest)
        return digest
    except OSError as exc:
        raise BuildError(
            f"Could not save the download of {url}",
            f"Writing {exc.filename or dest} failed: {exc.strerror or exc}. Check that the build "
            "environment has free disk space.",
        ) from None
    finally:
        partial.unlink(missing_ok=True)


def download_and_extract(url: str, dest: Path, *, sha256: str | None, keep: Path | None = None,
                         **options: Unpack[Options]) -> str:  # fmt: skip
    """Extracts the `.tar.zst` at `url` while it downloads, so that its top level becomes
    `dest`, and returns the sha256 (hex) of the archive. `keep`: the archive is also written
    there, as it arrives (the same pass), and kept when the extraction succeeds.

    One pass over the response body: each chunk is hashed, then decompressed and unpacked
    with `archive.py`'s member checks into a staging directory next to `dest`, which becomes
    `dest` only once the whole body has arrived and matches `sha256` (when given). On any
    failure `dest` is left as it was (absent or empty) and nothing else remains. A retried
    attempt starts over in a new staging directory. A damaged or unsafe archive still
    downloads to the end: a wrong checksum is reported first, as `download` then
    `archive.extract_tar_zst` would. Retries, timeouts (`Options`), progress lines and errors
    are `download`'s.
    """
    settings = _Settings(**options)
    if dest.is_dir() and any(dest.iterdir()):
        raise ValueError(f"extraction target {dest} is not empty")
    sink = _ExtractingSink(dest, urlsplit(url).path.rsplit("/", 1)[-1] or dest.name, keep)
    try:
        digest = _fetch(url, sink, _STREAM_CHUNK, settings)
        if sha256 is not None and digest != sha256.strip().lower():
            raise _checksum_error(url, sha256.strip().lower(), digest, settings.hint)
        sink.commit()
        return digest
    finally:
        sink.discard()


class _ExtractingSink:
    """Consumes one attempt's body: extracts it into a fresh staging directory next to `dest`."""

    def __init__(self, dest: Path, name: str, keep: Path | None = None) -> None:
        # Imported here: zstandard costs ~25 ms that the catalogue commands do not need.
        from . import archive

        self.archive = archive
        self.dest = dest
        self.name = name
        self.keep = keep
        self.copy = keep.with_name(f"{keep.name}.part") if keep is not None else None
        self.staging: Path | None = None
        self.error: BuildError | None = None  # the archive itself is bad (held until the digest is known)

    def __call__(self, chunks: Iterator[bytes]) -> None:
        self.discard()
        self.error = None
        try:
            self.staging = self.archive.new_staging(self.dest)
        except OSError as exc:
            raise self.archive.write_error(self.name, self.dest.parent, exc) from None
        if self.copy is not None:
            chunks = _written(chunks, self.copy)
        body = _BodyReader(chunks)
        try:
            self.archive.extract_stream(cast(IO[bytes], body), self.staging, self.name)
        except BuildError as exc:
            body.reraise()  # the network failed under the decompressor: that is the reason
            self.error = exc
        body.reraise()
        body.drain()  # the tar's end-of-archive marker may come before the end of the body

    def commit(self) -> None:
        if self.error is not None:
            raise self.error
        if self.staging is None:  # pragma: no cover - _fetch returns only after a full attempt
            raise AssertionError("nothing was extracted")
        try:
            self.archive.commit(self.staging, self.dest)
            if self.copy is not None and self.keep is not None:
                self.copy.replace(self.keep)
        except OSError as exc:
            raise self.archive.write_error(self.name, self.dest.parent, exc) from None
        self.staging = None

    def discard(self) -> None:
        if self.staging is not None:
            self.archive.discard(self.staging)
            self.staging = None
        if self.copy is not None:
            self.copy.unlink(missing_ok=True)


def _written(chunks: Iterator[bytes], path: Path) -> Iterator[bytes]:
    """The chunks, each also appended to `path` (started over at each attempt)."""
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
            yield chunk


class _BodyReader(io.RawIOBase):
    """The response body's chunks as a readable stream; remembers the error the network raised.

    Reads and `drain` take turns: after a failed extraction, the archive's read-ahead thread
    may still be inside a read when the body is drained.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._error: Exception | None = None
        self._lock = threading.Lock()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        with self._lock:
            return self._readinto(buffer)

    def _readinto(self, buffer: bytearray | memoryview) -> int:
        while not self._pending:
            try:
                chunk = next(self._chunks, None)
            except Exception as exc:
                self._error = exc
                raise
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        memoryview(buffer).cast("B")[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def reraise(self) -> None:
        """Raises the network's exception again, if reading the body failed."""
        if self._error is not None:
            raise self._error

    def drain(self) -> None:
        with self._lock:
            for _ in self._chunks:
                pass


def archive_sha256(url: str, *, attempts: int = 4, backoff: float = 1.0) -> str:
    """The sha256 (hex) of the file at `url`, streamed through the hash and not kept.

    Same timeouts, retries and errors as `download`'s defaults; a missing file raises
    MissingArchiveError.
    """
    return _fetch(url, _drain, _CHUNK, _Settings(attempts=attempts, backoff=backoff))


def _drain(chunks: Iterator[bytes]) -> None:
    for _ in chunks:
        pass


def _fetch(url: str, consume: Callable[[Iterator[bytes]], None], chunk_size: int, settings: _Settings) -> str:
    """GETs `url` with retries, the body's chunks to `consume`; returns the sha256 of the body.

    `consume` is called once per attempt that gets a response body; it must read the chunks
    to their end and let their exceptions (the network's) propagate.
    """
    attempts = settings.attempts
    with httpx.Client(timeout=settings.timeout, follow_redirects=True) as client:
        for attempt in range(1, attempts + 1):
            try:
                return _attempt(client, url, consume, chunk_size, settings.read_timeout, settings.progress_interval)
            except _Failure as failure:
                if not failure.retry or attempt == attempts:
                    raise _final_error(url, failure, attempt, settings.hint) from None
                delay = min(settings.backoff * 2 ** (attempt - 1), settings.max_backoff)
                output.detail(
                    f"Download attempt {attempt} of {attempts} failed ({failure.reason}); "
                    f"retrying in {output.format_duration(delay)}"
                )
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _attempt(
    client: httpx.Client,
    url: str,
    consume: Callable[[Iterator[bytes]], None],
    chunk_size: int,
    read_timeout: float,
    progress_every: float,
) -> str:
    """One GET streamed through sha256 to `consume`; returns the digest or raises _Failure."""
    digest = hashlib.sha256()
    response: httpx.Response | None = None
    expected: int | None = None
    try:
        with client.stream("GET", url) as response:
            status = response.status_code
            if status >= 400:
                retry = status >= 500 or status in _RETRYABLE_4XX
                raise _Failure(f"HTTP {status} {response.reason_phrase}".strip(), retry, status)
            expected = _content_length(response)
            consume(_hashed(response, chunk_size, digest, expected, progress_every))
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout):
            raise _Failure("timed out connecting", retry=True) from None
        received = _received(response)
        when = f"after {received} bytes" if received else "waiting for the response"
        raise _Failure(f"no data received for {read_timeout:g}s {when}", retry=True) from None
    except httpx.RemoteProtocolError:
        raise _Failure(_dropped(_received(response), expected), retry=True) from None
    except httpx.ConnectError as exc:
        raise _Failure(f"could not connect: {exc or type(exc).__name__}", retry=True) from None
    except httpx.NetworkError:
        raise _Failure(_dropped(_received(response), expected), retry=True) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
        raise _Failure(f"invalid URL: {exc}", retry=False) from None
    except httpx.HTTPError as exc:  # too many redirects, undecodable body, proxy refusal
        raise _Failure(f"{type(exc).__name__}: {exc}", retry=False) from None
    if expected is not None and _received(response) != expected:
        raise _Failure(_dropped(_received(response), expected), retry=True)
    return digest.hexdigest()


def _hashed(
    response: httpx.Response, chunk_size: int, digest: hashlib._Hash, expected: int | None, progress_every: float
) -> Iterator[bytes]:
    """The body's chunks, each added to `digest`; a progress line every `progress_every` seconds."""
    started = last_report = time.monotonic()
    for chunk in response.iter_bytes(chunk_size):
        digest.update(chunk)
        now = time.monotonic()
        if now - last_report >= progress_every:
            last_report = now
            output.detail(_progress(response.num_bytes_downloaded, expected, now - started))
        yield chunk


def _received(response: httpx.Response | None) -> int:
    """Bytes read from the wire so far, comparable to Content-Length."""
    return response.num_bytes_downloaded if response is not None else 0


def _content_length(response: httpx.Response) -> int | None:
    # Counts bytes on the wire (before any Content-Encoding is undone), like num_bytes_downloaded.
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _dropped(received: int, expected: int | None) -> str:
    of = f" of {expected}" if expected is not None else ""
    return f"connection dropped after {received}{of} bytes"


def _progress(received: int, expected: int | None, elapsed: float) -> str:
    mb = received / 1e6
    if expected:
        return f"{mb:.1f} MB of {expected / 1e6:.1f} MB ({received * 100 // expected}%, {elapsed:.0f}s)"
    return f"{mb:.1f} MB ({elapsed:.0f}s)"


def _final_error(url: str, failure: _Failure, attempts: int, hint: str) -> BuildError:
    tries = "" if attempts == 1 else f" ({attempts} attempts)"
    host = urlsplit(url).hostname or url
    title = f"Could not download the Python runtime: {failure.reason}"
    if failure.status in (403, 404):
        # S3-style hosts answer 403 for a missing key: same advice.
        details = (
            f"GET {url} returned {failure.reason}: no runtime archive exists at this address. "
            f"Check that this Python version is available for your stack and architecture. {_MIRROR_HINT}"
        )
        return MissingArchiveError(title, f"{details}\n{hint}" if hint else details, reason=failure.reason)
    elif failure.status is not None and not failure.retry:
        details = f"GET {url} returned {failure.reason}. {_MIRROR_HINT}"
    elif failure.status is not None:
        details = (
            f"GET {url} kept failing with {failure.reason}{tries}: the download host is having "
            f"trouble. Retry the build later. {_MIRROR_HINT}"
        )
    elif not failure.retry:
        details = f"Downloading {url} failed: {failure.reason}. {_MIRROR_HINT}"
    else:
        details = (
            f"Downloading {url} failed{tries}: {failure.reason}. The network between the build "
            f"and {host} is unreliable or the host is down. Retry the build later. {_MIRROR_HINT}"
        )
    if hint:
        details = f"{details}\n{hint}"
    return BuildError(title, details)


def _checksum_error(url: str, expected: str, got: str, hint: str) -> BuildError:
    name = url.rsplit("/", 1)[-1]
    details = (
        f"The file downloaded from {url} is not the one pinned in the runtime catalogue, so it "
        "was not installed:\n"
        f"    expected sha256 {expected}\n"
        f"    got      sha256 {got}\n"
        "If you maintain the mirror (BP_PYTHON_RUNTIME_BASE_URL) or the catalogue "
        "(BP_PYTHON_RUNTIME_CATALOG), upload the right archive or update its sha256; "
        "otherwise retry the build later."
    )
    if hint:
        details = f"{details}\n{hint}"
    return BuildError(f"Checksum mismatch for {name}", details)
