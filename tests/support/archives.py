"""Runtime archives with other bytes: what a mirror serves after a rebuild, or a tampering."""

from __future__ import annotations

import io
import os
import random
import shutil
import tarfile
from pathlib import Path

import zstandard
from support.builds import ARCH, PYTHON_MAJOR, PYTHON_VERSION

from python_buildpack.stacks.table import archive_name
from python_buildpack_dev.runtime_mirror.archives import file_sha256
from python_buildpack_dev.runtime_mirror.catalog import write_catalog


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


ARCHIVE = archive_name(PYTHON_VERSION, "22.04", ARCH)


class Mirror:
    """A private mirror whose archive can be swapped between builds."""

    def __init__(self, directory: Path, source: Path) -> None:
        self.directory = directory
        self.source = source
        directory.mkdir()
        self.serve_original()

    def serve_original(self) -> str:
        (self.directory / ARCHIVE).unlink(missing_ok=True)
        try:
            os.link(self.source, self.directory / ARCHIVE)
        except OSError:
            shutil.copyfile(self.source, self.directory / ARCHIVE)
        return file_sha256(self.directory / ARCHIVE)

    def serve_rebuilt(self) -> str:
        (self.directory / ARCHIVE).unlink()
        return file_sha256(recompressed(self.source, self.directory / ARCHIVE))

    def catalog(self, pin: str | None = None) -> str:
        path = self.directory / f"catalog-{pin or 'unpinned'}.toml"
        stacks = {"scalingo-22": {PYTHON_MAJOR: PYTHON_VERSION}}
        return str(write_catalog(path, stacks, default=PYTHON_MAJOR, artifacts={ARCHIVE: pin} if pin else None))


def small_runtime(dest: Path, size: int = 4_000_000) -> Path:
    """A runtime-shaped `.tar.zst` of about `size` bytes (incompressible content, so a fault at
    byte N of the body happens mid-archive): bin/python3, a link, a stdlib tree. For download
    tests, where the real runtime's 30+ MB would only cost time."""
    rng = random.Random(dest.name)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode, data in (
            ("bin/python3", 0o755, b"#!/bin/sh\necho small\n"),
            *((f"lib/python3.12/module{i:03}.py", 0o644, rng.randbytes(size // 200)) for i in range(200)),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 1704067200
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bin/python")
        link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "python3", 1704067200
        tar.addfile(link)
    dest.write_bytes(zstandard.ZstdCompressor(level=1).compress(raw.getvalue()))
    return dest
