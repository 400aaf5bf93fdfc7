"""A venv's packed copy with its records first (layers/venv_records.py): the archive's order,
the extraction in two parts, and the merge of the files unpacked aside after an update."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from python_buildpack.caching import packed
from python_buildpack.caching.plan import CachePlan
from python_buildpack.cnb import toml_io
from python_buildpack.cnb.layers import Empty, LayerDefinition, LayerMetadata
from python_buildpack.cnb.models import LayerTypes
from python_buildpack.errors import BuildError
from python_buildpack.files import trees
from python_buildpack.files.tar_zst import extract_in_two, extract_tar_zst, members_tar_zst, pack_tar_zst
from python_buildpack.layers import venv as venv_layer
from python_buildpack.layers.venv import VenvMetadata
from python_buildpack.layers.venv_records import ASIDE, is_record, merge

SITE = "lib/python3.12/site-packages"


class _Metadata(LayerMetadata):
    version: str


DEFINITION = LayerDefinition("venv", LayerTypes(launch=True), _Metadata)
METADATA = _Metadata(version="1")


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def dist(root: Path, info: str, files: list[str], record_extra: str = "") -> dict[str, str]:
    """A distribution's files in site-packages and its `.dist-info` with a RECORD listing them."""
    record = "".join(f"{name},sha256=x,1\n" for name in files) + f"{info}/RECORD,,\n" + record_extra
    content = {f"{SITE}/{name}": f"{info}:{name}" for name in files}
    content |= {f"{SITE}/{info}/METADATA": f"Name: {info.partition('-')[0]}\n", f"{SITE}/{info}/RECORD": record}
    write(root, content)
    return content


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_bytes().decode(errors="replace") for p in sorted(root.rglob("*")) if p.is_file()}


def test_records_are_everything_but_the_distributions_files() -> None:
    assert is_record("pyvenv.cfg") and is_record("bin/gunicorn") and is_record("lib") and is_record("lib64")
    assert is_record(SITE) and is_record("lib/python3.12") and is_record(f"{SITE}/six-1.17.0.dist-info")
    assert is_record(f"{SITE}/six-1.17.0.dist-info/RECORD")
    assert not is_record(f"{SITE}/six.py") and not is_record(f"{SITE}/django/__init__.py")
    assert not is_record(f"{SITE}/__pycache__/six.cpython-312.pyc") and not is_record(f"{SITE}/django")


def venv(root: Path) -> Path:
    write(root, {"pyvenv.cfg": "home = /x\n", "bin/activate": "#"})
    (root / "bin" / "python").symlink_to("/layers/python/bin/python3")
    dist(root, "django-5.2.dist-info", ["django/__init__.py", "django/db/models.py"])
    dist(root, "six-1.17.0.dist-info", ["six.py"])
    write(root, {f"{SITE}/__pycache__/six.cpython-312.pyc": "code"})
    return root


def test_the_records_come_first_and_are_extracted_before_the_rest(tmp_path: Path) -> None:
    source = venv(tmp_path / "venv")
    archive = tmp_path / "venv.tar.zst"
    leading = pack_tar_zst(source, archive, first=is_record)
    names = members_tar_zst(archive)
    records = [name for name in names if is_record(name)]
    assert names[: len(records)] == records and 0 < len(records) < len(names)

    dest, rest = tmp_path / "out" / "venv", tmp_path / "out" / "rest"
    seen: list[tuple[set[str], bool]] = []

    def first_done() -> None:  # the records in place, the rest not begun
        seen.append((set(tree(dest)), rest.exists()))

    assert extract_in_two(archive, dest, rest, leading, is_record, first_done)
    assert seen == [({p for p in tree(source) if is_record(p)}, False)]
    assert (dest / "bin" / "python").readlink() == Path("/layers/python/bin/python3")
    assert set(tree(rest)) == {p for p in tree(source) if not is_record(p)}

    # A copy of records alone: nothing aside, no hand-over before the end.
    records_only = tmp_path / "records.tar.zst"
    count = pack_tar_zst(dest, records_only, first=is_record)
    shutil.rmtree(tmp_path / "out")
    assert not extract_in_two(records_only, tmp_path / "out" / "venv", rest, count, is_record, first_done)
    assert len(seen) == 1 and not rest.exists()


@pytest.mark.parametrize("shift", [-1, 1])
def test_a_count_that_does_not_match_the_order_is_refused(tmp_path: Path, shift: int) -> None:
    source = venv(tmp_path / "venv")
    archive = tmp_path / "venv.tar.zst"
    leading = pack_tar_zst(source, archive, first=is_record)
    dest, rest = tmp_path / "out" / "venv", tmp_path / "out" / "rest"
    with pytest.raises(BuildError, match="out of its place"):
        extract_in_two(archive, dest, rest, leading + shift, is_record, lambda: None)
    if shift > 0:  # refused among the first members: nothing left in place
        assert not dest.exists() and not rest.exists()


def test_unpacking_hands_over_the_records_then_the_rest(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    source = venv(tmp_path / "venv")
    definition = packed.definition(DEFINITION)
    packed.save(DEFINITION, layers, source, METADATA, first=is_record)
    archive = definition.layer(layers).path / packed.ARCHIVE
    assert (archive.with_name(packed.LEADING)).read_text().isdigit()

    unpacking = packed.Unpacking(archive, layers / "venv", rest=(layers / "aside", is_record))
    unpacking.wait_first()
    assert unpacking.rest == layers / "aside" and (layers / "venv" / "pyvenv.cfg").is_file()
    assert unpacking.wait() > 0
    assert (layers / "aside" / SITE / "six.py").is_file()

    # Without the count (a copy packed before it), the whole copy first, as before.
    archive.with_name(packed.LEADING).unlink()
    whole = packed.Unpacking(archive, layers / "whole", rest=(layers / "aside2", is_record))
    whole.wait_first()
    assert whole.rest is None and tree(layers / "whole") == tree(source)


def test_a_damaged_copy_fails_at_the_first_wait_or_the_last(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    source = venv(tmp_path / "venv")
    (source / SITE / "django" / "data.bin").write_bytes(os.urandom(2 << 20))  # packed after the records
    packed.save(DEFINITION, layers, source, METADATA, first=is_record)
    archive = packed.definition(DEFINITION).layer(layers).path / packed.ARCHIVE
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) - 1000])  # the end cut: the records come, the rest fails
    unpacking = packed.Unpacking(archive, layers / "venv", rest=(layers / "aside", is_record))
    unpacking.wait_first()
    with pytest.raises(BuildError, match="could not be unpacked"):
        unpacking.wait()
    archive.write_bytes(b"not zstd")
    broken = packed.Unpacking(archive, layers / "venv2", rest=(layers / "aside2", is_record))
    with pytest.raises(BuildError, match="could not be unpacked"):
        broken.wait_first()
    assert not (layers / "venv2").exists()


def test_merge_moves_in_the_files_of_the_distributions_left_as_they_were(tmp_path: Path) -> None:
    full = tmp_path / "full"
    venv(full)
    dist(full, "chg-1.0.dist-info", ["chg/__init__.py", "chg/old.py"])
    dist(full, "gone-1.0.dist-info", ["gone/__init__.py", "gone_mod.py", "ns/gone_part.py"])
    dist(full, "nsa-1.0.dist-info", ["ns/a.py"])
    write(full, {
        f"{SITE}/__pycache__/gone_mod.cpython-312.pyc": "code",
        f"{SITE}/gone/__pycache__/__init__.cpython-312.pyc": "code",
        f"{SITE}/ns/__pycache__/a.cpython-312.pyc": "code",
        f"{SITE}/ns/__pycache__/gone_part.cpython-312.pyc": "code",
        f"{SITE}/django/unrecorded.txt": "kept",
    })  # fmt: skip
    archive = tmp_path / "venv.tar.zst"
    leading = pack_tar_zst(full, archive, first=is_record)
    layers = tmp_path / "layers"
    records, aside, before = layers / "venv", layers / "aside", layers / "before"
    extract_in_two(archive, records, aside, leading, is_record, lambda: None)
    extract_tar_zst(archive, before, links_outside=True)  # what the update started from, whole

    # The update as pip makes it: chg replaced by 2.0 (one file at the same path), gone removed.
    site = records / SITE
    for info in ("chg-1.0.dist-info", "gone-1.0.dist-info"):
        shutil.rmtree(site / info)
    new = dist(records, "chg-2.0.dist-info", ["chg/__init__.py", "chg/new.py"])
    merge(records, before, aside)
    trees.wait()

    expected = {k: v for k, v in tree(before).items() if not any(
        part in k for part in ("chg", "gone", "ns/__pycache__/gone_part"))}  # fmt: skip
    assert tree(records) == expected | new
    assert not aside.exists()
    assert not (site / "gone").exists()  # no directory of a removed distribution is left empty


def test_merge_of_all_files_gives_the_venv_back(tmp_path: Path) -> None:
    full = venv(tmp_path / "full")
    archive = tmp_path / "venv.tar.zst"
    leading = pack_tar_zst(full, archive, first=is_record)
    records, aside = tmp_path / "layers" / "venv", tmp_path / "layers" / "aside"
    extract_in_two(archive, records, aside, leading, is_record, lambda: None)
    merge(records, records, aside)
    trees.wait()
    assert tree(records) == tree(full) and (records / "bin" / "python").is_symlink()


def test_unpacking_threads_do_not_leak(tmp_path: Path) -> None:
    before = threading.active_count()
    packed.save(DEFINITION, tmp_path / "layers", venv(tmp_path / "venv"), METADATA, first=is_record)
    archive = packed.definition(DEFINITION).layer(tmp_path / "layers").path / packed.ARCHIVE
    packed.Unpacking(archive, tmp_path / "out", rest=(tmp_path / "aside", is_record)).wait()
    assert threading.active_count() == before


# The venv layer's update from its records (layers/venv.py), the installer replaced by a function.
VENV_METADATA = VenvMetadata(python_version="3.12.1", stack="scalingo-22", arch="amd64", package_manager="pip",
                             package_manager_version="26.3", app_dir="/workspace",
                             inputs={"requirements.txt": "a" * 64})  # fmt: skip
VENV_CHANGED = VENV_METADATA.model_copy(update={"inputs": {"requirements.txt": "b" * 64}})


def launch_only_venv(tmp_path: Path, damaged: bool = False) -> tuple[Path, Path, Empty[VenvMetadata]]:
    """A layers dir as the restorer leaves it for a changed build: the venv's toml and packed
    copy (records first), no files. Returns the full venv packed, the layers dir, the opened layer."""
    full = venv(tmp_path / "full")
    (full / SITE / "django" / "data.bin").write_bytes(os.urandom(2 << 20))
    layers = tmp_path / "layers"
    packed.save(venv_layer.LAYER, layers, full, VENV_METADATA, first=is_record)
    toml_io.dump({"types": {"launch": True}, "metadata": VENV_METADATA.model_dump()}, layers / "venv.toml")
    if damaged:
        archive = packed.definition(venv_layer.LAYER).layer(layers).path / packed.ARCHIVE
        archive.write_bytes(archive.read_bytes()[:-1000])
    opened = venv_layer.open_venv(layers, VENV_CHANGED, CachePlan())
    assert isinstance(opened, Empty)
    return full, layers, opened


def remove_six(venv_dir: Path) -> bool:
    shutil.rmtree(venv_dir / SITE / "six-1.17.0.dist-info")  # what pip's uninstall leaves of it
    return True


def test_an_update_from_the_records_ends_with_the_files_of_what_it_kept(tmp_path: Path) -> None:
    full, layers, opened = launch_only_venv(tmp_path)
    unpacking = venv_layer.start_unpack_previous(opened)
    assert venv_layer.unpack_previous(opened, unpacking) and unpacking is not None and unpacking.rest
    assert venv_layer.update(opened, remove_six, unpacking)
    trees.wait()
    expected = {path: text for path, text in tree(full).items() if "six" not in path}
    assert {path: text for path, text in tree(layers / "venv").items() if not path.startswith("env/")} == expected
    assert not (layers / ASIDE).exists() and not (layers / venv_layer.PREVIOUS).exists()
    assert "b" * 64 in (layers / "venv.toml").read_text()


@pytest.mark.parametrize("outcome", ["unverified", "error"])
def test_a_failed_update_from_the_records_puts_the_whole_venv_back(tmp_path: Path, outcome: str) -> None:
    full, layers, opened = launch_only_venv(tmp_path)
    toml_before = (layers / "venv.toml").read_bytes()
    unpacking = venv_layer.start_unpack_previous(opened)
    assert venv_layer.unpack_previous(opened, unpacking)

    def fails(venv_dir: Path) -> bool:
        remove_six(venv_dir)
        if outcome == "error":
            raise RuntimeError("pip failed")
        return False

    if outcome == "error":
        with pytest.raises(RuntimeError):
            venv_layer.update(opened, fails, unpacking)
    else:
        assert not venv_layer.update(opened, fails, unpacking)
    trees.wait()
    assert tree(layers / "venv") == tree(full) and (layers / "venv.toml").read_bytes() == toml_before


def test_a_damaged_rest_leaves_no_venv_of_records_alone(tmp_path: Path) -> None:
    _, layers, opened = launch_only_venv(tmp_path, damaged=True)
    unpacking = venv_layer.start_unpack_previous(opened)
    assert venv_layer.unpack_previous(opened, unpacking)  # the records came whole
    assert not venv_layer.update(opened, remove_six, unpacking)  # then the caller installs anew
    trees.wait()
    assert not (layers / "venv").exists() and not (layers / "venv.toml").exists()
    assert packed.find(venv_layer.LAYER, layers, VENV_METADATA) is None  # the copy dropped
