"""The runtime archive unpacked as it downloads: one pass over the response body.

Each chunk is hashed (`download.fetch`), then decompressed and unpacked with `files/tar_zst`'s
member checks into a staging directory next to the layer, renamed into place only once the
whole body matched the catalogue's pin. The `python` layer installs the runtime this way: no
archive file waits on disk before its extraction starts.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast
from urllib.parse import urlsplit

from ..errors import BuildError
from .download import Options, Settings, checksum_error, fetch

if TYPE_CHECKING:
    from typing_extensions import Unpack

# Small chunks keep the extraction close behind the network.
_CHUNK = 1 << 16


def download_and_extract(url: str, dest: Path, *, sha256: str | None, keep: Path | None = None,
                         **options: Unpack[Options]) -> str:  # fmt: skip
    """Extracts the `.tar.zst` at `url` while it downloads, so that its top level becomes
    `dest`, and returns the sha256 (hex) of the archive. `keep`: the archive is also written
    there, as it arrives (the same pass), and kept when the extraction succeeds.

    One pass over the response body: each chunk is hashed, then decompressed and unpacked
    with `files/tar_zst.py`'s member checks into a staging directory next to `dest`, which becomes
    `dest` only once the whole body has arrived and matches `sha256` (when given). On any
    failure `dest` is left as it was (absent or empty) and nothing else remains. A retried
    attempt starts over in a new staging directory. A damaged or unsafe archive still
    downloads to the end: a wrong checksum is reported first, as `download` then
    `tar_zst.extract_tar_zst` would. Retries, timeouts (`Options`), progress lines and errors
    are `download`'s.
    """
    settings = Settings(**options)
    if dest.is_dir() and any(dest.iterdir()):
        raise ValueError(f"extraction target {dest} is not empty")
    sink = _ExtractingSink(dest, urlsplit(url).path.rsplit("/", 1)[-1] or dest.name, keep)
    try:
        digest = fetch(url, sink, _CHUNK, settings)
        if sha256 is not None and digest != sha256.strip().lower():
            raise checksum_error(url, sha256.strip().lower(), digest, settings.hint)
        sink.commit()
        return digest
    finally:
        sink.discard()


class _ExtractingSink:
    """Consumes one attempt's body: extracts it into a fresh staging directory next to `dest`."""

    def __init__(self, dest: Path, name: str, keep: Path | None = None) -> None:
        # Imported here: zstandard costs ~25 ms that the catalogue commands do not need.
        from ..files import tar_zst

        self.archive = tar_zst
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
