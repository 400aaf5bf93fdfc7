"""Layers: declared once, opened as `Restored` or `Empty(cause)`, filled or removed whole.

Each layer module declares a `LayerDefinition`: its name, its types, the `LayerMetadata`
model whose fields are what the cached content depends on, and a content check. Opening it
with the metadata this build expects compares that with the restored metadata and explains
any difference ("the stack changed from scalingo-22 to scalingo-24"): metadata that does not
parse is never a crash, only a cause. A restored layer gets its `<layer>.toml` (types and
metadata) written at once: the lifecycle restores no `[types]`, and forgetting to write
them drops the layer. An empty one is filled in a context that removes it if the filling
fails, and writes `<layer>.toml` when it succeeds.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from . import toml_io
from .env import LayerEnv
from .models import LayerToml, LayerTypes


class LayerMetadata(BaseModel):
    """Base of every layer's metadata. Field titles name the value in log lines.

    A field with `json_schema_extra={"opaque": True}` (hashes) is reported without values.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    def changes_from(self, old: LayerMetadata) -> list[str]:
        reasons = []
        for name, info in type(self).model_fields.items():
            new_value, old_value = getattr(self, name), getattr(old, name, None)
            if new_value == old_value:
                continue
            title = info.title or name.replace("_", " ")
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if extra.get("opaque"):
                reasons.append(f"{title} changed")
            else:
                reasons.append(f"{title} changed from {old_value} to {new_value}")
        return reasons


M = TypeVar("M", bound=LayerMetadata)


class Layer:
    def __init__(self, layers_dir: Path, name: str) -> None:
        if "." in name or name in ("build", "launch", "store"):
            raise ValueError(f"invalid layer name {name!r}")
        self.name = name
        self.path = layers_dir / name
        self.toml_path = layers_dir / f"{name}.toml"
        self.layers_dir = layers_dir

    @property
    def env(self) -> LayerEnv:
        return LayerEnv(self.path)

    def read_toml(self) -> LayerToml | None:
        if not self.toml_path.is_file():
            return None
        return LayerToml.model_validate(toml_io.load(self.toml_path))

    def restored_metadata(self, model: type[M]) -> tuple[M | None, str]:
        """The restored metadata, or None and why it is unusable ('' when there was none)."""
        try:
            restored = self.read_toml()
        except (OSError, ValueError, toml_io.TOMLDecodeError):
            return None, "its metadata file could not be read"
        if restored is None:
            return None, ""
        try:
            return model.model_validate(restored.metadata), ""
        except ValidationError:
            return None, "its metadata is from an incompatible buildpack version"

    def reset(self) -> Path:
        """Removes whatever was restored and returns an empty layer directory."""
        self.delete()
        self.path.mkdir(parents=True)
        return self.path

    def delete(self) -> None:
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)
        elif self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        self.toml_path.unlink(missing_ok=True)
        for sbom in self.layers_dir.glob(f"{self.name}.sbom.*"):
            sbom.unlink()

    def write(self, types: LayerTypes, metadata: LayerMetadata | None = None, *, directory: bool = True) -> None:
        """Writes `<layer>.toml`; must be called on every build for every layer kept.

        `directory=False`: the metadata only, for a launch layer the exporter reuses."""
        if directory:
            self.path.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {"types": types.model_dump()}
        if metadata is not None:
            data["metadata"] = metadata.model_dump(mode="json", exclude_none=True)  # TOML has no null
        toml_io.dump(data, self.toml_path)


def files_restored(path: Path) -> str | None:
    """The default content check: a cached layer's directory must have come back."""
    return None if path.is_dir() else "its files were not restored"


@dataclass(frozen=True)
class New:
    """No previous layer: nothing to say in the log."""


@dataclass(frozen=True)
class Unreadable:
    why: str


@dataclass(frozen=True)
class Changed(Generic[M]):
    previous: M
    reasons: tuple[str, ...]


Cause = New | Unreadable | Changed[M]


@dataclass
class Filling(Generic[M]):
    """A layer being filled; `metadata` may be updated with what the filling learnt."""

    path: Path
    metadata: M


@dataclass(frozen=True)
class Restored(Generic[M]):
    layer: Layer
    metadata: M
    # False: only the metadata came back, from the previous image (a launch layer whose files
    # are not cached). Kept without a directory, the exporter reuses the image's layer as is.
    files: bool = True


@dataclass(frozen=True)
class Empty(Generic[M]):
    layer: Layer
    types: LayerTypes
    expected: M
    cause: Cause[M]

    @property
    def previous(self) -> M | None:
        return self.cause.previous if isinstance(self.cause, Changed) else None

    @property
    def reason(self) -> str:
        """Why the previous layer goes, for "Discarding cached X since <reason>" ("" when new)."""
        if isinstance(self.cause, Changed):
            return ", ".join(self.cause.reasons)
        return self.cause.why if isinstance(self.cause, Unreadable) else ""

    @contextmanager
    def fill(self) -> Iterator[Filling[M]]:
        """An empty layer directory to fill; removed if the filling fails, recorded if it succeeds."""
        filling = Filling(self.layer.reset(), self.expected)
        try:
            yield filling
        except BaseException:
            self.layer.delete()  # never leave a half-filled layer behind
            raise
        self.layer.write(self.types, filling.metadata)


@dataclass(frozen=True)
class LayerDefinition(Generic[M]):
    name: str
    types: LayerTypes
    metadata: type[M]
    # What the restored files must hold to be reused: a reason when they fall short.
    check: Callable[[Path], str | None] = files_restored
    # A launch layer that may come back as metadata only (not cached): reusable without files.
    image_reuse: bool = False

    def layer(self, layers_dir: Path) -> Layer:
        return Layer(layers_dir, self.name)

    @contextmanager
    def rewrite(self, layers_dir: Path, metadata: M | None = None) -> Iterator[Path]:
        """The layer made anew on every build (launch-only layers: nothing of them is restored
        but their metadata); removed if making it fails."""
        layer = self.layer(layers_dir)
        path = layer.reset()
        try:
            yield path
        except BaseException:
            layer.delete()
            raise
        layer.write(self.types, metadata)

    def remove(self, layers_dir: Path) -> bool:
        """Deletes the layer (files, metadata, SBOMs); whether there was anything to delete."""
        layer = self.layer(layers_dir)
        present = layer.path.exists() or layer.path.is_symlink() or layer.toml_path.exists()
        layer.delete()
        return present

    def previous(self, layers_dir: Path) -> M | None:
        """The restored metadata, when it parses (whatever the files)."""
        metadata, _ = self.layer(layers_dir).restored_metadata(self.metadata)
        return metadata

    def open(self, layers_dir: Path, expected: M, types: LayerTypes | None = None) -> Restored[M] | Empty[M]:
        """The layer as restored, `Restored` when its metadata is `expected` (and its files
        pass the check, or it may be reused without them); `types` replace the definition's."""
        layer = self.layer(layers_dir)
        types = types or self.types
        cause = self._cause(layer, expected)
        if cause is None:
            files = layer.path.is_dir()
            layer.write(types, expected, directory=files)
            return Restored(layer, expected, files=files)
        return Empty(layer, types, expected, cause)

    def is_current(self, layers_dir: Path, expected: M) -> bool:
        """Whether `open` would restore the layer (without writing anything)."""
        return self._cause(self.layer(layers_dir), expected) is None

    def _cause(self, layer: Layer, expected: M) -> Cause[M] | None:
        restored, problem = layer.restored_metadata(self.metadata)
        if problem:
            return Unreadable(problem)
        if restored is None:
            return New()
        reasons = expected.changes_from(restored)
        if not reasons and not (self.image_reuse and not layer.path.exists()):
            reasons = [r for r in (self.check(layer.path),) if r]
        return Changed(restored, tuple(reasons)) if reasons else None
