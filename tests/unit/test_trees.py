"""Trees copied as hard links and deleted in the background (files/trees.py)."""

from __future__ import annotations

import os
from pathlib import Path

from python_buildpack.files import trees


def test_link_copy_links_files_keeps_links_and_modes(tmp_path: Path) -> None:
    source = tmp_path / "venv"
    (source / "lib" / "site").mkdir(parents=True)
    (source / "lib" / "site" / "mod.py").write_text("x = 1\n")
    (source / "bin").mkdir(mode=0o750)
    (source / "bin").chmod(0o750)
    (source / "bin" / "tool").write_text("#!/bin/sh\n")
    (source / "bin" / "tool").chmod(0o755)
    (source / "bin" / "python").symlink_to("/usr/bin/python3")
    (source / "lib64").symlink_to("lib")
    (source / "empty").mkdir()

    trees.link_copy(source, tmp_path / "copy")
    copy = tmp_path / "copy"
    assert (copy / "lib" / "site" / "mod.py").stat().st_ino == (source / "lib" / "site" / "mod.py").stat().st_ino
    assert os.readlink(copy / "bin" / "python") == "/usr/bin/python3"
    assert os.readlink(copy / "lib64") == "lib" and (copy / "lib64").is_symlink()
    assert (copy / "bin").stat().st_mode & 0o777 == 0o750
    assert (copy / "bin" / "tool").stat().st_mode & 0o777 == 0o755
    assert (copy / "empty").is_dir()
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == sorted(
        p.relative_to(source) for p in source.rglob("*")
    )


def test_remove_later_deletes_in_the_background_until_wait(tmp_path: Path) -> None:
    tree = tmp_path / "previous"
    for index in range(200):
        (tree / f"d{index % 7}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{index % 7}" / f"f{index}").write_text("x")
    file, missing = tmp_path / "file", tmp_path / "missing"
    file.write_text("x")
    for path in (tree, file, missing):
        trees.remove_later(path)
    trees.wait()
    assert list(tmp_path.iterdir()) == []
    trees.wait()  # nothing left to wait for


def test_the_path_is_free_at_once(tmp_path: Path) -> None:
    """A new tree made at the same path is not touched by the deletion of the old one."""
    tree = tmp_path / ".venv-previous"
    for index in range(300):
        (tree / f"d{index % 5}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{index % 5}" / f"f{index}").write_text("old")
    trees.remove_later(tree)
    (tree / "d0").mkdir(parents=True)
    (tree / "d0" / "new").write_text("new")
    trees.wait()
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*"))] == [
        ".venv-previous",
        ".venv-previous/d0",
        ".venv-previous/d0/new",
    ]
