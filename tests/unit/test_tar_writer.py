"""The packed copies' tar writer (files/tar_writer.py): byte for byte what `tarfile` writes in
its PAX format for the same members (owner root, time 0), on plain and unusual entries."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from python_buildpack.files.tar_writer import TarWriter


def tree(root: Path) -> list[tuple[str, str]]:
    """Entries of every kind the writer meets, and (path, name) pairs in a fixed order."""
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "empty.py").write_bytes(b"")
    (root / "pkg" / "block.bin").write_bytes(b"x" * 512)  # exactly one block: no padding
    (root / "pkg" / "big.bin").write_bytes(os.urandom(3 << 20))  # more than a gathered write
    (root / "pkg" / "run.sh").write_text("#!/bin/sh\n")
    (root / "pkg" / "run.sh").chmod(0o755)
    (root / "pkg" / "sub" / "readonly").write_text("r")
    (root / "pkg" / "sub" / "readonly").chmod(0o444)
    long_dir = root / "pkg" / ("d" * 60) / ("e" * 60)
    long_dir.mkdir(parents=True)
    (long_dir / "long_name.py").write_text("long")  # a path over 100 characters: a PAX record
    (root / "pkg" / "é.txt").write_text("non-ASCII name")  # a PAX record too
    (root / "pkg" / "link").symlink_to("run.sh")
    (root / "pkg" / "far").symlink_to("/layers/python/bin/python3")
    (root / "pkg" / "longlink").symlink_to("x" * 120)
    os.mkfifo(root / "pkg" / "fifo")
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            names.append((path, os.path.relpath(path, root)))
    return names


def with_tarfile(entries: list[tuple[str, str]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, name in entries:
            info = tar.gettarinfo(path, name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                with open(path, "rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return out.getvalue()


def with_writer(entries: list[tuple[str, str]]) -> bytes:
    out = io.BytesIO()
    writer = TarWriter(out)
    for path, name in entries:
        writer.add(path, name)
    writer.close()
    return out.getvalue()


def test_the_stream_is_what_tarfile_writes(tmp_path: Path) -> None:
    entries = tree(tmp_path)
    written = with_writer(entries)
    assert written == with_tarfile(entries)
    assert len(written) % (20 * 512) == 0
    with tarfile.open(fileobj=io.BytesIO(written), mode="r|") as tar:
        members = {member.name: member for member in tar}
    assert stat.S_IMODE(members["pkg/run.sh"].mode) == 0o755 and members["pkg/far"].linkname.startswith("/layers")
    assert members["pkg/longlink"].linkname == "x" * 120 and members["pkg/é.txt"].isreg()
    assert members["pkg/fifo"].isfifo()


def test_a_file_that_shrinks_while_packed_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").write_bytes(b"abc" * 1000)
    real_lstat = os.lstat

    def larger(path: str) -> os.stat_result:  # the size read before the file shrank
        st = real_lstat(path)
        return os.stat_result((st.st_mode, *st[1:6], st.st_size + 10, *st[7:]))

    monkeypatch.setattr(os, "lstat", larger)
    with pytest.raises(OSError, match="unexpected end of data"):
        TarWriter(io.BytesIO()).add(str(tmp_path / "data"), "data")
