"""Runtime archives with other bytes: what a mirror serves after a rebuild, or a tampering."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import zstandard


def recompressed(archive: Path, dest: Path, level: int = 1) -> Path:
    """The same tar as `archive`, compressed again at `level`: same files, other bytes."""
    with (
        archive.open("rb") as src,
        dest.open("wb") as out,
        zstandard.ZstdDecompressor().stream_reader(src) as reader,
    ):
        zstandard.ZstdCompressor(level=level).copy_stream(reader, out)
    return dest


def tiny_archive(dest: Path, label: str) -> Path:
    """A small valid `.tar.zst` whose bytes depend on `label` (for tests that only hash archives)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = f"#!/bin/sh\necho {label}\n".encode()
        info = tarfile.TarInfo("bin/python3")
        info.size, info.mode, info.mtime = len(data), 0o755, 1704067200
        tar.addfile(info, io.BytesIO(data))
    dest.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return dest
