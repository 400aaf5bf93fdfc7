"""Packed copies: a layer's files cached as one archive, in the cache-only layer `<layer>-packed`.

The lifecycle's restorer writes a cached layer back file by file at every build, and its
exporter reads and hashes every cached file again (a Django venv: 8,600 entries, seconds of
each build), whether or not the build reads them. A layer that later builds need only now and
then (the runtime, the venv, the installer) is therefore cached as one `.tar.zst`: restored
and hashed in milliseconds, unpacked by the buildpack only when a step needs the files. The
copy's metadata is the layer's own: the copy is valid exactly when the layer would be.

The runtime's packed copy is the archive it was installed from, kept as downloaded.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from ..cnb.layers import Layer, LayerDefinition, LayerMetadata, M
from ..cnb.models import LayerTypes
from ..errors import BuildError

TYPES = LayerTypes(cache=True)
ARCHIVE = "layer.tar.zst"
# Saved with a copy packed with some members first (`save`'s `first`): how many.
LEADING = "leading"


def _has_archive(path: Path) -> str | None:
    return None if (path / ARCHIVE).is_file() else "its archive was not restored"


def definition(of: LayerDefinition[M]) -> LayerDefinition[M]:
    """The cache-only layer holding `of`'s packed copy."""
    return LayerDefinition(f"{of.name}-packed", TYPES, of.metadata, _has_archive)


def find(of: LayerDefinition[M], layers_dir: Path, expected: M) -> Path | None:
    """The restored packed copy's archive, when it is a copy of the layer `expected` describes.
    Not kept by itself: `keep` or `save` decide what the next build gets."""
    packed = definition(of)
    return packed.layer(layers_dir).path / ARCHIVE if packed.is_current(layers_dir, expected) else None


def previous(of: LayerDefinition[M], layers_dir: Path) -> M | None:
    """The restored copy's metadata, when it parses."""
    return definition(of).previous(layers_dir)


def stale(of: LayerDefinition[M], layers_dir: Path, expected: M) -> str:
    """Why the restored copy is not one of the layer `expected` describes ("" when it is, or
    when there is none)."""
    packed = definition(of)
    if packed.is_current(layers_dir, expected):
        return ""
    restored, problem = packed.layer(layers_dir).restored_metadata(packed.metadata)
    if problem or restored is None:
        return problem
    return ", ".join(expected.changes_from(restored)) or "its archive was not restored"


def keep(of: LayerDefinition[M], layers_dir: Path, expected: M) -> bool:
    """Keeps the restored copy for the next build, when it is still current."""
    packed = definition(of)
    if not packed.is_current(layers_dir, expected):
        return False
    packed.open(layers_dir, expected)  # writes its types again
    return True


def save(of: LayerDefinition[M], layers_dir: Path, source: Path, metadata: LayerMetadata,
         extra: Mapping[str, Path] | None = None, first: Callable[[str], bool] | None = None) -> None:  # fmt: skip
    """Packs the layer directory `source` as the copy for the next build; `extra` files (name →
    file, moved in) go with it. `first`: the files it holds for (relative paths) are packed
    first, so that `Unpacking` can hand them over before the others."""
    from ..files.tar_zst import pack_tar_zst  # zstandard: ~25 ms that a build packing nothing does not need

    layer = _fresh(of, layers_dir)
    leading = pack_tar_zst(source, layer.path / ARCHIVE, first=first)
    if first is not None:
        (layer.path / LEADING).write_text(str(leading), encoding="ascii")
    for name, file in (extra or {}).items():
        os.replace(file, layer.path / name)
    layer.write(TYPES, metadata)


def extra_file(of: LayerDefinition[M], layers_dir: Path, expected: M, name: str) -> Path | None:
    """A file saved with the copy (`save`'s `extra`), when the copy is current."""
    archive = find(of, layers_dir, expected)
    return archive.with_name(name) if archive is not None and archive.with_name(name).is_file() else None


def save_file(of: LayerDefinition[M], layers_dir: Path, archive: Path, metadata: LayerMetadata) -> None:
    """Keeps `archive` (a `.tar.zst` of the layer's files) as the copy, moved into place."""
    layer = _fresh(of, layers_dir)
    os.replace(archive, layer.path / ARCHIVE)
    layer.write(TYPES, metadata)


def unpack(archive: Path, dest: Path) -> None:
    """The layer's files back from its packed copy; `dest` is absent or empty, and stays so if
    the copy is damaged (a BuildError: the callers make the files again instead)."""
    from ..files.tar_zst import extract_tar_zst

    _clear_empty(dest)
    try:
        extract_tar_zst(archive, dest, links_outside=True)
    except BuildError as error:
        raise _unpack_failed(archive, error) from None


def _clear_empty(dest: Path) -> None:
    if dest.is_dir() and not any(dest.iterdir()):
        dest.rmdir()


def _unpack_failed(archive: Path, error: BuildError) -> BuildError:
    return BuildError(f"The cached copy {archive.parent.name} could not be unpacked", error.title)


class Unpacking:
    """A packed copy unpacked in a thread while the build goes on (the runtime's download or
    unpacking, in another directory: creating files is most of both, and the kernel does it on
    both cores)."""

    def __init__(self, archive: Path, dest: Path, then: tuple[Path, Path] | None = None,
                 rest: tuple[Path, Callable[[str], bool]] | None = None) -> None:  # fmt: skip
        """`then`: one more archive and where to extract it, after the copy; left absent if
        damaged (its reader extracts it again and says why). `rest`: for a copy packed with
        some members first (`save`'s `first`, the same test), where the others go: `wait_first`
        returns once `dest` has the first ones, the others still coming."""
        self.seconds = 0.0
        self.rest: Path | None = None  # where the other members are going, once the first are in place
        self._error: BaseException | None = None
        self._first = threading.Event()
        leading = _leading(archive) if rest is not None else None
        target = self._run if rest is None or leading is None else partial(self._run_in_two, leading, *rest)
        self._thread = threading.Thread(target=target, args=(archive, dest, then), name=f"unpack {dest.name}",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _run(self, archive: Path, dest: Path, then: tuple[Path, Path] | None) -> None:
        start = time.monotonic()
        try:
            unpack(archive, dest)
        except BaseException as error:  # handed to `wait`, in the build's own thread
            self._error = error
        self.seconds = time.monotonic() - start
        if then is not None and self._error is None:
            self._run_then(then)
        self._first.set()

    @staticmethod
    def _run_then(then: tuple[Path, Path]) -> None:
        from ..files.tar_zst import extract_tar_zst

        try:
            extract_tar_zst(*then, links_outside=False)
        except BuildError:
            shutil.rmtree(then[1], ignore_errors=True)

    def _run_in_two(self, leading: int, rest: Path, is_first: Callable[[str], bool], archive: Path, dest: Path,
                    then: tuple[Path, Path] | None) -> None:  # fmt: skip
        from ..files.tar_zst import extract_in_two

        def first_done() -> None:
            self.rest = rest
            self._first.set()

        start = time.monotonic()
        try:
            _clear_empty(dest)
            extract_in_two(archive, dest, rest, leading, is_first, first_done)
        except BuildError as error:
            self._error = _unpack_failed(archive, error)
        except BaseException as error:
            self._error = error
        self.seconds = time.monotonic() - start
        if then is not None and self._error is None and self.rest is None:
            self._run_then(then)
        self._first.set()

    def wait_first(self) -> None:
        """Until `dest` has the first members (all of them, with `then`, when `rest` is None);
        the copy's BuildError if it is damaged there."""
        self._first.wait()
        if self.rest is None and self._error is not None:
            raise self._error

    def wait(self) -> float:
        """The seconds it took; its BuildError when the copy is damaged."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.seconds


def _leading(archive: Path) -> int | None:
    try:
        return int(archive.with_name(LEADING).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


def drop(of: LayerDefinition[M], layers_dir: Path) -> bool:
    """Removes the packed copy; whether there was one."""
    return definition(of).remove(layers_dir)


def _fresh(of: LayerDefinition[M], layers_dir: Path) -> Layer:
    layer = definition(of).layer(layers_dir)
    if layer.path.exists():
        shutil.rmtree(layer.path)
    layer.toml_path.unlink(missing_ok=True)
    layer.path.mkdir(parents=True)
    return layer
