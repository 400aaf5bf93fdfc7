"""Runtime download: URL and mirror settings, then real downloads of a real runtime archive
from a loopback server with injected faults (error statuses, dropped connections, hangs), and
the same archive extracted while it downloads (`download_and_extract`), with the same faults.

Each test runs its own server over the session mirror's directory so its fault schedule and
request counts are its own. Timeouts and back-off are tiny to keep the suite fast.
"""

from __future__ import annotations

import errno
import io
import os
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard
from support.archives import small_runtime
from support.builds import ARCH
from support.trees import entries

from python_buildpack.errors import BuildError
from python_buildpack.files import tar_zst
from python_buildpack.files.tar_zst import extract_tar_zst
from python_buildpack.runtime.download import MissingArchiveError, download
from python_buildpack.runtime.mirror import DEFAULT_BASE_URL, base_url, runtime_url
from python_buildpack.runtime.unpack_on_arrival import _ExtractingSink, download_and_extract
from python_buildpack_dev.runtime_mirror.archives import file_sha256
from python_buildpack_dev.runtime_mirror.server import Fault, Faults, serve

Capsys = pytest.CaptureFixture[str]
FAST = {"backoff": 0.01, "read_timeout": 2.0, "connect_timeout": 2.0}


@dataclass
class Server:
    base_url: str
    faults: Faults
    archive: Path

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.archive.name}"

    def requests(self) -> int:
        return self.faults.count(self.archive.name)


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runtime-shaped archive of 4 MB (the real one is in tests/e2e/test_runtime_stream.py)."""
    return small_runtime(tmp_path_factory.mktemp("mirror") / f"python-3.12.1-ubuntu-22.04-{ARCH}.tar.zst")


@pytest.fixture
def server(small_archive: Path) -> Iterator[Server]:
    archive = small_archive
    faults = Faults()
    with serve(archive.parent, faults) as url:
        yield Server(url, faults, archive)


def no_leftovers(directory: Path) -> bool:
    return not any(directory.iterdir())


# The faults every runtime fetch handles alike: to a file, or extracted while it downloads.
BOTH = pytest.mark.parametrize("fetch", [download, download_and_extract], ids=["to_file", "extracting"])


# --- where archives are --------------------------------------------------------------------


@pytest.mark.parametrize("base", ["https://mirror.example", "https://mirror.example/"])
def test_runtime_url_follows_the_archive_naming_contract(base: str) -> None:
    assert (
        runtime_url(base, "3.12.12", "22.04", "arm64")
        == "https://mirror.example/python-3.12.12-ubuntu-22.04-arm64.tar.zst"
    )


def test_runtime_url_keeps_a_path_prefix() -> None:
    url = runtime_url("http://127.0.0.1:8000/runtimes/", "3.11.7", "24.04", "amd64")
    assert url == "http://127.0.0.1:8000/runtimes/python-3.11.7-ubuntu-24.04-amd64.tar.zst"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, DEFAULT_BASE_URL),
        ({"BP_PYTHON_RUNTIME_BASE_URL": "https://new.example/py/"}, "https://new.example/py"),
        ({"BUILDPACK_S3_BASE_URL": "https://legacy.example"}, "https://legacy.example"),
        (
            {"BP_PYTHON_RUNTIME_BASE_URL": "https://new.example", "BUILDPACK_S3_BASE_URL": "https://old.example"},
            "https://new.example",
        ),
        # Platform env files hold the value verbatim, often with a trailing newline.
        ({"BP_PYTHON_RUNTIME_BASE_URL": "http://10.0.0.1:9000\n"}, "http://10.0.0.1:9000"),
        ({"BP_PYTHON_RUNTIME_BASE_URL": "  ", "BUILDPACK_S3_BASE_URL": "https://old.example"}, "https://old.example"),
    ],
)
def test_base_url_settings(settings: dict[str, str], expected: str) -> None:
    assert base_url(settings) == expected


@pytest.mark.parametrize("value", ["python-binaries.scalingo.com", "ftp://mirror.example", "https://"])
def test_invalid_base_url_is_a_clear_error(value: str) -> None:
    with pytest.raises(BuildError) as info:
        base_url({"BUILDPACK_S3_BASE_URL": value})
    assert "BUILDPACK_S3_BASE_URL" in info.value.title
    assert value in info.value.title
    assert "http://" in info.value.details


# --- successful downloads --------------------------------------------------------------------


def test_download_verifies_the_pinned_checksum(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "python.tar.zst"
    pin = file_sha256(server.archive)

    digest = download(server.url, dest, sha256=pin.upper(), **FAST)

    assert digest == pin
    assert file_sha256(dest) == pin
    assert dest.stat().st_size == server.archive.stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["python.tar.zst"]  # no .part left
    assert server.requests() == 1


def test_download_without_pin_returns_the_checksum(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "python.tar.zst"
    assert download(server.url, dest, sha256=None, **FAST) == file_sha256(server.archive)


def test_slow_downloads_print_progress(server: Server, tmp_path: Path, capsys: Capsys) -> None:
    # An interval of 0 makes every chunk "slow": the line format is what is checked.
    download(server.url, tmp_path / "a.tar.zst", sha256=None, progress_interval=0, **FAST)
    total_mb = f"{server.archive.stat().st_size / 1e6:.1f} MB"
    lines = [line for line in capsys.readouterr().out.splitlines() if total_mb in line]
    assert lines
    assert lines[-1].strip().startswith(f"{total_mb} of {total_mb} (100%")


def test_fast_downloads_print_nothing(server: Server, tmp_path: Path, capsys: Capsys) -> None:
    download(server.url, tmp_path / "a.tar.zst", sha256=None, progress_interval=3600, **FAST)
    assert capsys.readouterr().out == ""


# --- faults ------------------------------------------------------------------------------------


@BOTH
def test_404_fails_at_once_with_the_url_and_the_fix(server: Server, tmp_path: Path, fetch: Any) -> None:
    url = f"{server.base_url}/python-3.99.0-ubuntu-22.04-amd64.tar.zst"
    with pytest.raises(BuildError) as info:
        fetch(url, tmp_path / "a.tar.zst", sha256=None, hint="scalingo-22 offers 3.11 to 3.13.", **FAST)

    error = info.value
    assert isinstance(error, MissingArchiveError)
    assert "HTTP 404" in error.title
    assert url in error.details
    assert "BP_PYTHON_RUNTIME_BASE_URL" in error.details
    assert "scalingo-22 offers 3.11 to 3.13." in error.details
    assert server.faults.count("python-3.99.0-ubuntu-22.04-amd64.tar.zst") == 1  # no retry
    assert no_leftovers(tmp_path)


@pytest.mark.parametrize("status", [400, 403, 410])
@BOTH
def test_other_4xx_are_not_retried(server: Server, tmp_path: Path, status: int, fetch: Any) -> None:
    server.faults.fail(server.archive.name, status, times=None)
    with pytest.raises(BuildError) as info:
        fetch(server.url, tmp_path / "a.tar.zst", sha256=None, **FAST)
    assert f"HTTP {status}" in info.value.title
    assert server.requests() == 1
    assert no_leftovers(tmp_path)


def test_500_then_success_is_retried(server: Server, tmp_path: Path, capsys: Capsys) -> None:
    server.faults.fail(server.archive.name, 500, times=2)
    dest = tmp_path / "a.tar.zst"

    digest = download(server.url, dest, sha256=file_sha256(server.archive), **FAST)

    assert digest == file_sha256(dest)
    assert server.requests() == 3
    log = capsys.readouterr().out
    assert "attempt 1 of 4 failed (HTTP 500" in log
    assert "attempt 2 of 4 failed (HTTP 500" in log


@pytest.mark.parametrize("status", [429, 408])
def test_throttling_4xx_are_retried(server: Server, tmp_path: Path, status: int) -> None:
    server.faults.fail(server.archive.name, status)
    download(server.url, tmp_path / "a.tar.zst", sha256=None, **FAST)
    assert server.requests() == 2


@BOTH
def test_persistent_5xx_gives_up_after_the_attempts(server: Server, tmp_path: Path, fetch: Any) -> None:
    server.faults.fail(server.archive.name, 503, times=None)
    with pytest.raises(BuildError) as info:
        fetch(server.url, tmp_path / "a.tar.zst", sha256=None, attempts=3, **FAST)
    assert "HTTP 503" in info.value.title
    assert "3 attempts" in info.value.details
    assert server.url in info.value.details
    assert server.requests() == 3
    assert no_leftovers(tmp_path)


def test_connection_dropped_mid_body_is_retried(server: Server, tmp_path: Path) -> None:
    server.faults.drop(server.archive.name, after=100_000)
    dest = tmp_path / "a.tar.zst"
    pin = file_sha256(server.archive)
    assert download(server.url, dest, sha256=pin, **FAST) == pin
    assert file_sha256(dest) == pin
    assert server.requests() == 2


@BOTH
def test_connection_that_keeps_dropping_is_a_clear_error(server: Server, tmp_path: Path, fetch: Any) -> None:
    server.faults.drop(server.archive.name, after=100_000, times=None)
    size = server.archive.stat().st_size
    with pytest.raises(BuildError) as info:
        fetch(server.url, tmp_path / "a.tar.zst", sha256=None, attempts=2, **FAST)
    assert f"connection dropped after 100000 of {size} bytes" in info.value.title
    assert "2 attempts" in info.value.details
    assert server.requests() == 2
    assert no_leftovers(tmp_path)


@BOTH
def test_wrong_checksum_fails_without_retry_and_keeps_nothing(server: Server, tmp_path: Path, fetch: Any) -> None:
    wrong = "0" * 64
    with pytest.raises(BuildError) as info:
        fetch(server.url, tmp_path / "a.tar.zst", sha256=wrong, **FAST)
    error = info.value
    assert error.title == f"Checksum mismatch for {server.archive.name}"
    assert f"expected sha256 {wrong}" in error.details
    assert f"got      sha256 {file_sha256(server.archive)}" in error.details
    assert server.url in error.details
    assert server.requests() == 1
    assert no_leftovers(tmp_path)


def test_failed_download_leaves_an_existing_file_alone(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "a.tar.zst"
    dest.write_bytes(b"previous")
    with pytest.raises(BuildError):
        download(server.url, dest, sha256="f" * 64, **FAST)
    assert dest.read_bytes() == b"previous"


@BOTH
def test_server_that_never_answers_times_out(server: Server, tmp_path: Path, fetch: Any) -> None:
    # The server-side hang is cut short when the server stops; the client gives up first.
    server.faults.hang(server.archive.name, 60, times=None)
    with pytest.raises(BuildError) as info:
        fetch(server.url, tmp_path / "a.tar.zst", sha256=None, attempts=2, backoff=0.01, read_timeout=0.1)
    assert "no data received for 0.1s waiting for the response" in info.value.title
    assert server.requests() == 2
    assert no_leftovers(tmp_path)


@BOTH
def test_server_that_stalls_mid_body_times_out(server: Server, tmp_path: Path, fetch: Any) -> None:
    server.faults.add(server.archive.name, Fault(drop_after=50_000, hang=60, times=None))
    with pytest.raises(BuildError) as info:
        fetch(server.url, tmp_path / "a.tar.zst", sha256=None, attempts=2, backoff=0.01, read_timeout=0.1)
    assert "no data received for 0.1s after 50000 bytes" in info.value.title
    assert no_leftovers(tmp_path)


def test_a_hang_once_is_retried(server: Server, tmp_path: Path) -> None:
    server.faults.hang(server.archive.name, 60)
    pin = file_sha256(server.archive)
    assert download(server.url, tmp_path / "a.tar.zst", sha256=pin, backoff=0.01, read_timeout=0.3) == pin
    assert server.requests() == 2


@BOTH
def test_nothing_listening_is_a_connection_error(tmp_path: Path, fetch: Any) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/python-3.12.1-ubuntu-22.04-amd64.tar.zst"
    with pytest.raises(BuildError) as info:
        fetch(url, tmp_path / "a.tar.zst", sha256=None, attempts=2, **FAST)
    assert "could not connect" in info.value.title
    assert url in info.value.details
    assert no_leftovers(tmp_path)


# --- extracting while downloading ------------------------------------------------------------------




@pytest.fixture(scope="module")
def extracted(small_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int, str]]:
    """The archive extracted from the file, the reference for the streamed extraction."""
    dest = tmp_path_factory.mktemp("reference") / "python"
    extract_tar_zst(small_archive, dest)
    return entries(dest)


def only(directory: Path, name: str) -> bool:
    return [p.name for p in directory.iterdir()] == [name]


def test_streamed_extraction_gives_the_file_extraction_tree(
    server: Server, tmp_path: Path, extracted: dict[str, tuple[str, int, str]]
) -> None:
    dest = tmp_path / "layers" / "python"
    pin = file_sha256(server.archive)

    assert download_and_extract(server.url, dest, sha256=pin.upper(), **FAST) == pin

    assert entries(dest) == extracted
    assert only(dest.parent, "python")  # no staging directory, no archive file
    assert server.requests() == 1


def test_streamed_extraction_fills_an_empty_destination_without_pin(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "python"
    dest.mkdir()
    assert download_and_extract(server.url, dest, sha256=None, **FAST) == file_sha256(server.archive)
    assert (dest / "bin" / "python3").is_file()
    assert only(tmp_path, "python")


def test_streamed_extraction_refuses_a_non_empty_destination(server: Server, tmp_path: Path) -> None:
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "keep").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        download_and_extract(server.url, tmp_path / "python", sha256=None, **FAST)
    assert server.requests() == 0


def test_streamed_extraction_prints_download_progress(server: Server, tmp_path: Path, capsys: Capsys) -> None:
    download_and_extract(server.url, tmp_path / "python", sha256=None, progress_interval=0, **FAST)
    total_mb = f"{server.archive.stat().st_size / 1e6:.1f} MB"
    lines = [line for line in capsys.readouterr().out.splitlines() if total_mb in line]
    assert lines[-1].strip().startswith(f"{total_mb} of {total_mb} (100%")


def test_drop_mid_body_starts_the_extraction_over(
    server: Server, tmp_path: Path, capsys: Capsys, extracted: dict[str, tuple[str, int, str]]
) -> None:
    # 3 MB: some members are already extracted when the connection drops.
    server.faults.drop(server.archive.name, after=3_000_000)
    dest = tmp_path / "python"
    pin = file_sha256(server.archive)

    assert download_and_extract(server.url, dest, sha256=pin, **FAST) == pin

    assert entries(dest) == extracted
    assert only(tmp_path, "python")
    assert server.requests() == 2
    size = server.archive.stat().st_size
    assert (
        f"Download attempt 1 of 4 failed (connection dropped after 3000000 of {size} bytes)" in capsys.readouterr().out
    )


def test_wrong_checksum_keeps_an_existing_empty_destination(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "python"
    dest.mkdir()
    with pytest.raises(BuildError, match="Checksum mismatch"):
        download_and_extract(server.url, dest, sha256="f" * 64, **FAST)
    assert only(tmp_path, "python") and no_leftovers(dest)


def test_a_stall_once_is_retried(server: Server, tmp_path: Path, extracted: dict[str, tuple[str, int, str]]) -> None:
    server.faults.add(server.archive.name, Fault(drop_after=2_000_000, hang=60))
    dest = tmp_path / "python"
    pin = file_sha256(server.archive)
    assert download_and_extract(server.url, dest, sha256=pin, backoff=0.01, read_timeout=0.3) == pin
    assert entries(dest) == extracted
    assert server.requests() == 2


def test_interrupted_extraction_leaves_nothing(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build cancelled mid-extraction (SIGTERM is KeyboardInterrupt in the buildpack)."""
    real_write = tar_zst._write_file
    written = 0

    def write_then_cancel(*args: Any) -> None:
        nonlocal written
        written += 1
        if written == 50:
            raise KeyboardInterrupt
        real_write(*args)

    monkeypatch.setattr(tar_zst, "_write_file", write_then_cancel)
    with pytest.raises(KeyboardInterrupt):
        download_and_extract(server.url, tmp_path / "python", sha256=None, **FAST)
    assert no_leftovers(tmp_path)


def test_a_full_disk_while_the_network_stalls_is_reported_as_a_full_disk(
    small_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the read-ahead thread waits inside a read: the rest of the body is
    still drained (for the checksum) once that read returns, and the error is the disk's."""
    data = small_archive.read_bytes()
    stalled = threading.Event()

    def body() -> Iterator[bytes]:
        for offset in range(0, len(data), 65536):
            if offset == 1 << 20:
                stalled.set()
                time.sleep(0.5)  # the read-ahead thread is inside this read when the disk fills
            yield data[offset : offset + 65536]

    real_write = tar_zst._write_file

    def write(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str) -> None:
        if stalled.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        real_write(tar, member, target)

    monkeypatch.setattr(tar_zst, "_write_file", write)
    sink = _ExtractingSink(tmp_path / "python", small_archive.name)
    chunks = body()
    sink(chunks)
    with pytest.raises(BuildError) as info:
        sink.commit()
    sink.discard()
    assert "No space left on device" in info.value.details
    assert next(chunks, None) is None  # drained to the end
    assert no_leftovers(tmp_path)


# Hand-made archives served over the network: the member checks of files/tar_zst.py apply.


def pack(path: Path, members: dict[str, bytes | str]) -> Path:
    """A .tar.zst of regular files (bytes) and symbolic links (str: the target)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    path.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return path


@pytest.fixture
def hand_made(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    directory = tmp_path / "mirror"
    directory.mkdir()
    with serve(directory) as url:
        yield url, directory


def test_unsafe_archive_is_refused_after_the_checksum(hand_made: tuple[str, Path], tmp_path: Path) -> None:
    url, directory = hand_made
    archive_file = pack(directory / "evil.tar.zst", {"bin/python3": b"x" * 200_000, "lib/escape": "../../outside"})
    layers = tmp_path / "layers"
    layers.mkdir()

    with pytest.raises(BuildError) as info:
        download_and_extract(f"{url}/evil.tar.zst", layers / "python", sha256=file_sha256(archive_file), **FAST)
    assert info.value.title.startswith("The Python runtime archive evil.tar.zst is unsafe: 'lib/escape'")
    assert no_leftovers(layers)

    # Pinned to other bytes, the mismatch is the explanation (as when downloading first).
    with pytest.raises(BuildError, match=r"Checksum mismatch for evil\.tar\.zst"):
        download_and_extract(f"{url}/evil.tar.zst", layers / "python", sha256="0" * 64, **FAST)
    assert no_leftovers(layers)


def test_truncated_archive_is_corrupt(hand_made: tuple[str, Path], small_archive: Path, tmp_path: Path) -> None:
    url, directory = hand_made
    data = small_archive.read_bytes()
    (directory / "cut.tar.zst").write_bytes(data[: len(data) // 2])
    layers = tmp_path / "layers"
    layers.mkdir()
    with pytest.raises(BuildError) as info:
        download_and_extract(f"{url}/cut.tar.zst", layers / "python", sha256=None, **FAST)
    assert info.value.title.startswith("The Python runtime archive cut.tar.zst is corrupt")
    assert no_leftovers(layers)
