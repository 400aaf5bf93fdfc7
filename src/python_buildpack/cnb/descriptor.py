"""Models of `buildpack.toml` (Buildpack API 0.10) and `package.toml` (pack's packaging config)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .models import _Contract


class License(_Contract):
    type: str | None = None
    uri: str | None = None


class BuildpackInfo(_Contract):
    id: str = Field(pattern=r"^[a-zA-Z0-9./-]+$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+([-+].*)?$")
    name: str
    homepage: str | None = None
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)
    clear_env: bool = Field(default=False, alias="clear-env")
    sbom_formats: list[str] = Field(default_factory=list, alias="sbom-formats")
    licenses: list[License] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in ("app", "config", "sbom"):
            raise ValueError(f"{value!r} is a reserved buildpack id")
        return value


class Distro(_Contract):
    name: str
    version: str


class TargetEntry(_Contract):
    os: str
    arch: str
    variant: str | None = None
    distros: list[Distro] = Field(default_factory=list)


class StackEntry(_Contract):
    """Deprecated since Buildpack API 0.10, still read by platforms that match on stacks."""

    id: str
    mixins: list[str] = Field(default_factory=list)


class BuildpackDescriptor(_Contract):
    api: str
    buildpack: BuildpackInfo
    targets: list[TargetEntry] = Field(default_factory=list)
    stacks: list[StackEntry] = Field(default_factory=list)
    metadata: dict[str, object] = Field(default_factory=dict)


class PackageBuildpack(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uri: str


class PackagePlatform(BaseModel):
    model_config = ConfigDict(extra="forbid")
    os: str = "linux"


class PackageDescriptor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    buildpack: PackageBuildpack
    platform: PackagePlatform = Field(default_factory=PackagePlatform)
    dependencies: list[dict[str, str]] = Field(default_factory=list)


@lru_cache(maxsize=4)
def buildpack_version(buildpack_dir: Path) -> str:
    """The version in the buildpack's own `buildpack.toml` ("" when it cannot be read)."""
    from . import toml_io

    try:
        data = toml_io.load(buildpack_dir / "buildpack.toml")
    except (OSError, ValueError):
        return ""
    buildpack = data.get("buildpack")
    version = buildpack.get("version") if isinstance(buildpack, dict) else None
    return version if isinstance(version, str) else ""
