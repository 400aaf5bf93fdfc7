"""Pydantic models of the TOML files exchanged with the lifecycle (Buildpack API 0.10)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    def to_toml(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


# --- detect output: the build plan ---------------------------------------------------


class Provide(_Contract):
    name: str


class Require(_Contract):
    name: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class PlanAlternative(_Contract):
    provides: list[Provide] = Field(default_factory=list)
    requires: list[Require] = Field(default_factory=list)


class BuildPlan(PlanAlternative):
    or_: list[PlanAlternative] = Field(default_factory=list, alias="or")


# --- build input: the buildpack plan -------------------------------------------------


class PlanEntry(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    name: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class BuildpackPlan(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    entries: list[PlanEntry] = Field(default_factory=list)


# --- build outputs -------------------------------------------------------------------


class LayerTypes(_Contract):
    launch: bool = False
    build: bool = False
    cache: bool = False


class LayerToml(BaseModel):
    """`<layer>.toml`. Restored files carry only `[metadata]`, so `types` is optional."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    types: LayerTypes | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Process(_Contract):
    type: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    command: list[str] = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    default: bool = False
    working_dir: str | None = Field(default=None, alias="working-dir")


class Label(_Contract):
    key: str
    value: str


class Slice(_Contract):
    paths: list[str] = Field(default_factory=list)


class LaunchToml(_Contract):
    labels: list[Label] = Field(default_factory=list)
    processes: list[Process] = Field(default_factory=list)
    slices: list[Slice] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_default(self) -> LaunchToml:
        if sum(p.default for p in self.processes) > 1:
            raise ValueError("only one process may be the default")
        types = [p.type for p in self.processes]
        if len(types) != len(set(types)):
            raise ValueError("process types must be unique")
        return self


class Unmet(_Contract):
    name: str


class BuildToml(_Contract):
    unmet: list[Unmet] = Field(default_factory=list)
