"""Layers: restore, decide keep/discard with human-readable reasons, (re)create, write.

Each layer module declares a `LayerMetadata` model whose fields are what the cached content
depends on. `Layer.decide(expected)` compares it with the restored metadata and explains any
difference ("the stack changed from scalingo-22 to scalingo-24"). Metadata that does not
parse is never a crash: the layer is discarded with that reason.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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


@dataclass
class Decision:
    keep: bool
    reasons: list[str] = field(default_factory=list)
    # True when there was a previous layer at all (cached or restored metadata).
    had_previous: bool = False
    # The previous layer's metadata, when it parsed.
    previous: Any = None

    @property
    def reason_text(self) -> str:
        return ", ".join(self.reasons)


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

    def decide(self, expected: M, *, needs_content: bool = True) -> Decision:
        """Whether the restored layer matches `expected`; the reasons when it does not."""
        restored, problem = self.restored_metadata(type(expected))
        if problem:
            return Decision(False, [problem], had_previous=True)
        if restored is None:
            return Decision(False, [])
        if needs_content and not self.path.is_dir():
            return Decision(False, ["its files were not restored"], had_previous=True, previous=restored)
        reasons = expected.changes_from(restored)
        return Decision(not reasons, reasons, had_previous=True, previous=restored)

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

    def write(self, types: LayerTypes, metadata: LayerMetadata | None = None) -> None:
        """Writes `<layer>.toml`; must be called on every build for every layer kept."""
        self.path.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {"types": types.model_dump()}
        if metadata is not None:
            data["metadata"] = metadata.model_dump(mode="json", exclude_none=True)  # TOML has no null
        toml_io.dump(data, self.toml_path)
