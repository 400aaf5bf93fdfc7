"""Downloading Python runtime archives: a careful streaming fetch (where they are: `mirror`;
what the runtime install does with the bytes as they arrive: `unpack_on_arrival`).

`fetch` GETs a URL with retries and hands each attempt's body to a consumer while hashing it.
`download` streams the archive to a `.part` file next to the destination, checks the sha256
against the catalogue's pin, then renames: a failed download never leaves a file that looks
complete. The pinning command streams archives through the hash only (`archive_sha256`), with
the same retries. Transient failures (connection errors, timeouts, truncated bodies, 5xx) are
retried a few times with exponential back-off; a 4xx is not.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlsplit

import httpx

from .. import output
from ..errors import BuildError
from ..stacks.table import MIRROR_HINT as _MIRROR_HINT

if TYPE_CHECKING:
    from typing_extensions import Unpack

_CHUNK = 1 << 20
# Statuses that mean "try again later" although they are 4xx.
_RETRYABLE_4XX = {408, 429}


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
class Settings:
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
    settings = Settings(**options)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.part")

    def save(chunks: Iterator[bytes]) -> None:
        with partial.open("wb") as out:  # each attempt starts the file over
            for chunk in chunks:
                out.write(chunk)

    try:
        digest = fetch(url, save, _CHUNK, settings)
        if sha256 is not None and digest != sha256.strip().lower():
            raise checksum_error(url, sha256.strip().lower(), digest, settings.hint)
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


def archive_sha256(url: str, *, attempts: int = 4, backoff: float = 1.0) -> str:
    """The sha256 (hex) of the file at `url`, streamed through the hash and not kept.

    Same timeouts, retries and errors as `download`'s defaults; a missing file raises
    MissingArchiveError.
    """
    return fetch(url, _drain, _CHUNK, Settings(attempts=attempts, backoff=backoff))


def _drain(chunks: Iterator[bytes]) -> None:
    for _ in chunks:
        pass


def fetch(url: str, consume: Callable[[Iterator[bytes]], None], chunk_size: int, settings: Settings) -> str:
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


def checksum_error(url: str, expected: str, got: str, hint: str) -> BuildError:
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
