"""Extraction of runtime archives: a real one (the test interpreter, which must then run),
and hand-made hostile or damaged ones, each refused with nothing left behind.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from support.archives import small_runtime

from python_buildpack.errors import BuildError
from python_buildpack.files import tar_zst as archive_module
from python_buildpack.files.tar_zst import extract_tar_zst


@dataclass
class Entry:
    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644


def make_archive(path: Path, entries: list[Entry]) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.type
            info.mode = entry.mode
            info.linkname = entry.linkname
            info.uid = info.gid = 4321
            info.size = len(entry.data) if entry.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(entry.data) if info.size else None)
    path.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return path


def d(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode=mode)


def f(name: str, data: bytes = b"x", mode: int = 0o644) -> Entry:
    return Entry(name, data=data, mode=mode)


def sym(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, linkname=target, mode=0o777)


def hard(name: str, target: str) -> Entry:
    return Entry(name, tarfile.LNKTYPE, linkname=target)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """`<tmp>/layers/` holds the destination; `<tmp>/outside/` is what an escape would reach."""
    (tmp_path / "layers").mkdir()
    (tmp_path / "outside").mkdir()
    return tmp_path


# --- what is kept from members -------------------------------------------------------------


def test_modes_are_kept_without_setuid_or_ownership(workspace: Path) -> None:
    archive = make_archive(
        workspace / "a.tar.zst",
        [
            d("bin"),
            f("bin/tool", b"#!/bin/sh\necho hi\n", mode=0o4755),
            f("lib/data.txt", b"data"),  # no directory entry for lib/: created anyway
            d("share", mode=0o555),
            f("share/doc", b"read-only dir content"),
        ],
    )
    dest = workspace / "layers" / "python"
    extract_tar_zst(archive, dest)

    tool = dest / "bin" / "tool"
    assert stat.S_IMODE(tool.stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "lib" / "data.txt").stat().st_mode) == 0o644
    assert (dest / "share" / "doc").read_bytes() == b"read-only dir content"
    assert stat.S_IMODE((dest / "share").stat().st_mode) & 0o555 == 0o555
    assert tool.stat().st_uid == os.getuid()
    assert subprocess.run([str(tool)], capture_output=True, text=True, check=True).stdout == "hi\n"


def test_dot_slash_names_and_internal_links(workspace: Path) -> None:
    archive = make_archive(
        workspace / "a.tar.zst",
        [
            d("./"),
            d("./bin"),
            f("./bin/python3.12", b"binary", mode=0o755),
            sym("./bin/python3", "python3.12"),
            d("./lib"),
            sym("./lib/libpython.so", "../bin/python3.12"),
            hard("./bin/python", "bin/python3.12"),
        ],
    )
    dest = workspace / "layers" / "python"
    extract_tar_zst(archive, dest)

    assert (dest / "bin" / "python3").read_bytes() == b"binary"
    assert os.readlink(dest / "lib" / "libpython.so") == "../bin/python3.12"
    assert (dest / "bin" / "python").stat().st_ino == (dest / "bin" / "python3.12").stat().st_ino


def test_later_member_of_the_same_name_wins(workspace: Path) -> None:
    archive = make_archive(workspace / "a.tar.zst", [f("a", b"first"), f("a", b"second")])
    dest = workspace / "layers" / "python"
    extract_tar_zst(archive, dest)
    assert (dest / "a").read_bytes() == b"second"


def test_an_existing_empty_destination_is_filled(workspace: Path) -> None:
    dest = workspace / "layers" / "python"
    dest.mkdir()
    extract_tar_zst(make_archive(workspace / "a.tar.zst", [f("bin/python3")]), dest)
    assert (dest / "bin" / "python3").is_file()


def test_a_non_empty_destination_is_refused(workspace: Path) -> None:
    dest = workspace / "layers" / "python"
    dest.mkdir()
    (dest / "old").write_text("old")
    with pytest.raises(ValueError, match="not empty"):
        extract_tar_zst(make_archive(workspace / "a.tar.zst", [f("bin/python3")]), dest)
    assert [p.name for p in dest.iterdir()] == ["old"]


# --- hostile archives ---------------------------------------------------------------------------

HOSTILE = {
    "parent member": ([f("bin/python3"), f("../outside/evil")], "'../outside/evil' contains '..'"),
    "nested parent member": ([f("bin/../../outside/evil")], "contains '..'"),
    "absolute member": ([f("/tmp/evil")], "'/tmp/evil' has an absolute path"),
    "absolute symlink": ([sym("bin/passwd", "/etc/passwd")], "symbolic link to the absolute path '/etc/passwd'"),
    "escaping symlink": (
        [d("bin"), sym("bin/out", "../../outside")],
        "'bin/out' is a symbolic link to '../../outside'",
    ),
    "write through a symlink": (
        # Each link alone stays inside; together `x` leads two levels up, and `x/evil` would land there.
        [d("p"), sym("x", "p/y/../.."), sym("p/y", ".."), f("x/evil")],
        "'x/evil' is inside a link that leads outside",
    ),
    "links that combine into an escape": (
        [d("p"), sym("x", "p/y/../.."), sym("p/y", "..")],
        "'x' is a symbolic link that leads outside",
    ),
    "hard link outside": ([hard("bin/passwd", "../../etc/passwd")], "contains '..'"),
    "absolute hard link": ([hard("bin/passwd", "/etc/passwd")], "absolute path"),
    "hard link to a missing file": ([hard("bin/python", "bin/python3.12")], "not an earlier file"),
    "character device": ([Entry("dev/null", tarfile.CHRTYPE)], "'dev/null' is a device file"),
    "block device": ([Entry("dev/sda", tarfile.BLKTYPE)], "'dev/sda' is a device file"),
    "fifo": ([Entry("run/pipe", tarfile.FIFOTYPE)], "'run/pipe' is a FIFO"),
    "file over a directory": ([d("lib"), f("lib/x"), f("lib")], "'lib' replaces a directory"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_is_left(workspace: Path, case: str) -> None:
    entries, message = HOSTILE[case]
    archive = make_archive(workspace / "python-3.12.1-ubuntu-22.04-amd64.tar.zst", entries)
    dest = workspace / "layers" / "python"

    with pytest.raises(BuildError) as info:
        extract_tar_zst(archive, dest)

    error = info.value
    assert error.title.startswith("The Python runtime archive python-3.12.1-ubuntu-22.04-amd64.tar.zst is unsafe")
    assert message in error.title
    assert "Nothing was installed" in error.details
    assert not dest.exists()
    assert list((workspace / "layers").iterdir()) == []
    assert list((workspace / "outside").iterdir()) == []


def test_failure_keeps_an_existing_empty_destination(workspace: Path) -> None:
    dest = workspace / "layers" / "python"
    dest.mkdir()
    with pytest.raises(BuildError):
        extract_tar_zst(make_archive(workspace / "a.tar.zst", [f("bin/python3"), f("/abs")]), dest)
    assert dest.is_dir()
    assert list(dest.iterdir()) == []
    assert [p.name for p in (workspace / "layers").iterdir()] == ["python"]


def test_a_full_disk_fails_the_extraction_and_nothing_is_left(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = archive_module._write_file

    def disk_full_at_m42(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str) -> None:
        if target.endswith("/m42.py"):  # a full disk is made for real in tests/e2e/test_reliability.py
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        real_write(tar, member, target)

    monkeypatch.setattr(archive_module, "_write_file", disk_full_at_m42)
    archive = make_archive(workspace / "a.tar.zst", [f(f"lib/m{i}.py") for i in range(200)])
    with pytest.raises(BuildError) as info:
        extract_tar_zst(archive, workspace / "layers" / "python")

    assert info.value.title == "Could not extract the Python runtime archive a.tar.zst"
    assert "No space left on device" in info.value.details
    assert list((workspace / "layers").iterdir()) == []


# --- damaged archives --------------------------------------------------------------------------


def test_truncated_archive_is_corrupt(workspace: Path) -> None:
    data = small_runtime(workspace / "python-3.12.1-ubuntu-22.04-amd64.tar.zst").read_bytes()
    archive = workspace / "cut.tar.zst"
    archive.write_bytes(data[: len(data) // 2])
    dest = workspace / "layers" / "python"

    with pytest.raises(BuildError) as info:
        extract_tar_zst(archive, dest)

    assert info.value.title.startswith("The Python runtime archive cut.tar.zst is corrupt")
    assert "Nothing was installed" in info.value.details
    assert list((workspace / "layers").iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [b"<html>Access denied</html>", zstandard.ZstdCompressor().compress(b"not a tar archive at all" * 100)],
    ids=["not zstd", "not tar"],
)
def test_garbage_is_corrupt(workspace: Path, content: bytes) -> None:
    archive = workspace / "a.tar.zst"
    archive.write_bytes(content)
    with pytest.raises(BuildError, match="is corrupt"):
        extract_tar_zst(archive, workspace / "layers" / "python")
    assert list((workspace / "layers").iterdir()) == []


def test_empty_archive_is_corrupt(workspace: Path) -> None:
    with pytest.raises(BuildError, match="contains no files"):
        extract_tar_zst(make_archive(workspace / "a.tar.zst", []), workspace / "layers" / "python")
    assert list((workspace / "layers").iterdir()) == []
