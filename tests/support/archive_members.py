"""Reading members of a runtime archive (.tar.zst)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import zstandard


def members(archive: Path) -> dict[str, tarfile.TarInfo]:
    data = zstandard.ZstdDecompressor().decompress(archive.read_bytes(), max_output_size=1 << 30)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {info.name: info for info in tar.getmembers()}


def read_member(archive: Path, name: str) -> bytes:
    data = zstandard.ZstdDecompressor().decompress(archive.read_bytes(), max_output_size=1 << 30)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        fh = tar.extractfile(name)
        assert fh is not None
        return fh.read()
