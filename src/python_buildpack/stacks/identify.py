"""Which stack the build runs on: one table (`stacks/table.py`), three sources (README, "Supported stacks").

1. CNB_TARGET_DISTRO_NAME + CNB_TARGET_DISTRO_VERSION (what Buildpack API 0.10 platforms send),
2. CNB_STACK_ID (deprecated, still sent by older platforms),
3. /etc/os-release of the build image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cnb.context import PhaseContext
from ..errors import BuildError
from .table import (
    ARCHES,
    END_OF_LIFE_STACKS,
    STACK_ARCHES,
    STACK_ID_ALIASES,
    STACK_TO_UBUNTU,
    SUPPORTED,
    UBUNTU_TO_STACK,
)

OS_RELEASE = Path("/etc/os-release")


@dataclass(frozen=True)
class Stack:
    name: str  # scalingo-22
    ubuntu_version: str  # 22.04
    arch: str  # amd64 | arm64
    source: str  # how it was determined, for the build log

    @property
    def end_of_life(self) -> bool:
        return self.name in END_OF_LIFE_STACKS


def resolve(ctx: PhaseContext, os_release: Path = OS_RELEASE) -> Stack:
    arch = _arch(ctx.target.arch)
    target = ctx.target
    if target.distro_name or target.distro_version:
        seen = f"{target.distro_name} {target.distro_version}".strip()
        stack = UBUNTU_TO_STACK.get(target.distro_version) if target.distro_name == "ubuntu" else None
        if stack is None:
            raise BuildError(
                f"Unsupported build target: {seen}",
                f"The platform reported CNB_TARGET_DISTRO_NAME={target.distro_name!r} and "
                f"CNB_TARGET_DISTRO_VERSION={target.distro_version!r}. {SUPPORTED} "
                "Use a builder based on one of these images.",
            )
        return _checked(stack, arch, f"target {seen}")
    if ctx.stack_id:
        stack = STACK_ID_ALIASES.get(ctx.stack_id)
        if stack is None:
            raise BuildError(
                f"Unsupported stack: {ctx.stack_id}",
                f"The platform reported CNB_STACK_ID={ctx.stack_id!r}. {SUPPORTED}",
            )
        return _checked(stack, arch, f"stack id {ctx.stack_id}")
    distro, version = _read_os_release(os_release)
    stack = UBUNTU_TO_STACK.get(version) if distro == "ubuntu" else None
    if stack is None:
        seen = f"{distro or 'unknown'} {version}".strip()
        raise BuildError(
            f"Unsupported build image: {seen}",
            f"The platform set neither CNB_TARGET_DISTRO_* nor CNB_STACK_ID, and "
            f"{os_release} describes {seen}. {SUPPORTED}",
        )
    return _checked(stack, arch, f"{os_release}: ubuntu {version}")


def _arch(value: str) -> str:
    if not value:
        import platform

        value = platform.machine()
    arch = ARCHES.get(value.lower())
    if arch is None:
        raise BuildError(f"Unsupported architecture: {value}", SUPPORTED)
    return arch


def _checked(stack: str, arch: str, source: str) -> Stack:
    if arch not in STACK_ARCHES[stack]:
        raise BuildError(
            f"Unsupported build target: {stack} (Ubuntu {STACK_TO_UBUNTU[stack]}) on {arch}",
            f"Python runtimes for Ubuntu {STACK_TO_UBUNTU[stack]} exist for "
            f"{' and '.join(STACK_ARCHES[stack])} only. {SUPPORTED}",
        )
    return Stack(name=stack, ubuntu_version=STACK_TO_UBUNTU[stack], arch=arch, source=source)


def _read_os_release(path: Path) -> tuple[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", ""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    return values.get("ID", ""), values.get("VERSION_ID", "")
