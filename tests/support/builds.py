"""Test support: the private runtime mirror and app builds on either engine.

`AppBuild` drives the emulated lifecycle by default, or the reference lifecycle (the real
phases and launcher from .tools/bin, on the packaged buildpack) when given a `Reference`.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from python_buildpack.stacks.table import STACK_TO_UBUNTU, archive_name
from python_buildpack_dev.emulated.builder import Builder
from python_buildpack_dev.emulated.launcher import Launcher, run_in_image
from python_buildpack_dev.platform.phases import BuildResult, ImageTarget, host_arch
from python_buildpack_dev.platform.registry import Registry
from python_buildpack_dev.platform.tools import ReferenceTools
from python_buildpack_dev.platform.workspace import Workspace
from python_buildpack_dev.reference.builder import ReferenceBuilder
from python_buildpack_dev.reference.launcher import ReferenceLauncher
from python_buildpack_dev.runtime_mirror.server import Faults

BUILDPACK_DIR = Path(__file__).resolve().parents[2]
FIXTURES = BUILDPACK_DIR / "tests" / "fixtures"
APPS = FIXTURES / "apps"

PYTHON_VERSION = platform.python_version()  # the runtime the tests install: this interpreter's
PYTHON_MAJOR = PYTHON_VERSION.rsplit(".", 1)[0]
ARCH = host_arch()


@dataclass
class RuntimeMirror:
    directory: Path
    base_url: str
    catalog: Path
    faults: Faults
    version: str = PYTHON_VERSION

    def archive(self, stack: str = "scalingo-22") -> Path:
        return self.directory / archive_name(self.version, STACK_TO_UBUNTU[stack], ARCH)

    def platform_env(self) -> dict[str, str]:
        return {"BP_PYTHON_RUNTIME_BASE_URL": self.base_url, "BP_PYTHON_RUNTIME_CATALOG": str(self.catalog)}


@dataclass(frozen=True)
class Reference:
    """The reference engine: the lifecycle binaries, the packaged buildpack, the image's python3."""

    tools: ReferenceTools
    artifact: Path
    build_python: Path | None


@dataclass
class AppBuild:
    """One app's successive builds, sharing a workspace (image + cache) like redeploys do."""

    source: Path
    workspace: Workspace
    platform_env: dict[str, str]
    target: ImageTarget = field(default_factory=lambda: ImageTarget(distro_version="22.04", arch=ARCH))
    reference: Reference | None = None
    registry: Registry | None = None  # the reference engine's images in a registry, not a layout

    def builder(self, **extra_env: str) -> Builder | ReferenceBuilder:
        env = self.platform_env | extra_env
        if self.reference is None:
            return Builder(BUILDPACK_DIR, self.workspace, target=self.target, platform_env=env)
        ref = self.reference
        return ReferenceBuilder(ref.tools, ref.artifact, self.workspace, target=self.target, platform_env=env,
                                build_python=ref.build_python, registry=self.registry)

    def build(self, **extra_env: str) -> BuildResult:
        return self.builder(**extra_env).build(self.source)

    @property
    def launcher(self) -> Launcher | ReferenceLauncher:
        return Launcher(self.workspace) if self.reference is None else ReferenceLauncher(self.workspace)

    def run(self, argv: list[str], runtime_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A one-off command in the image's launch environment."""
        if self.reference is None:
            return run_in_image(self.workspace, argv, runtime_env)
        return ReferenceLauncher(self.workspace).run(argv, runtime_env)

    @property
    def layers(self) -> Path:
        return self.workspace.buildpack_layers
