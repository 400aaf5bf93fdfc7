"""The build context, read from the `CNB_*` variables the lifecycle sets (detect reads its one
variable itself, to stay light)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict


@dataclass(frozen=True)
class CnbTarget:
    """The build target the lifecycle passes as CNB_TARGET_* variables."""

    os: str = ""
    arch: str = ""
    arch_variant: str = ""
    distro_name: str = ""
    distro_version: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CnbTarget:
        return cls(
            os=env.get("CNB_TARGET_OS", ""),
            arch=env.get("CNB_TARGET_ARCH", ""),
            arch_variant=env.get("CNB_TARGET_ARCH_VARIANT", ""),
            distro_name=env.get("CNB_TARGET_DISTRO_NAME", ""),
            distro_version=env.get("CNB_TARGET_DISTRO_VERSION", ""),
        )


def read_platform_env(platform_dir: Path | None) -> dict[str, str]:
    """User-provided variables: one file per variable in `<platform>/env/`, content verbatim."""
    if platform_dir is None:
        return {}
    env_dir = platform_dir / "env"
    values: dict[str, str] = {}
    try:
        entries = sorted(env_dir.iterdir())
    except OSError:
        return {}
    for entry in entries:
        try:
            if entry.is_file():
                values[entry.name] = entry.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return values


@dataclass(frozen=True)
class PhaseContext:
    app_dir: Path
    buildpack_dir: Path
    platform_dir: Path | None
    target: CnbTarget
    stack_id: str
    # The user's configuration: platform env files layered over the process environment.
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildContext(PhaseContext):
    layers_dir: Path = Path("layers")
    buildpack_plan_path: Path = Path("plan.toml")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BuildContext:
        environ = os.environ if environ is None else environ
        base = _base(environ)
        return cls(
            **base,
            layers_dir=Path(_require(environ, "CNB_LAYERS_DIR")),
            buildpack_plan_path=Path(_require(environ, "CNB_BP_PLAN_PATH")),
        )


class ContractError(Exception):
    """The platform did not provide what the Buildpack API promises."""


def _require(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise ContractError(
            f"{name} is not set: this program is a buildpack phase and must be run by a CNB "
            "lifecycle (pack, a platform, or the local-lifecycle of the buildpack's repository)."
        )
    return value


class _Base(TypedDict):
    app_dir: Path
    buildpack_dir: Path
    platform_dir: Path | None
    target: CnbTarget
    stack_id: str
    settings: Mapping[str, str]


def _base(environ: Mapping[str, str]) -> _Base:
    buildpack_dir = environ.get("CNB_BUILDPACK_DIR") or str(Path(__file__).resolve().parents[3])
    platform = environ.get("CNB_PLATFORM_DIR", "")
    platform_dir = Path(platform) if platform else None
    settings = dict(environ)
    settings.update(read_platform_env(platform_dir))
    return {
        "app_dir": Path.cwd(),
        "buildpack_dir": Path(buildpack_dir),
        "platform_dir": platform_dir,
        "target": CnbTarget.from_env(environ),
        "stack_id": environ.get("CNB_STACK_ID", ""),
        "settings": settings,
    }
