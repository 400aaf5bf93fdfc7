"""Test support: the private runtime mirror and app builds through the local lifecycle."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

from python_buildpack.lifecycle.builder import Builder, BuildResult, Target
from python_buildpack.lifecycle.launcher import Launcher
from python_buildpack.lifecycle.runtime_mirror import Faults
from python_buildpack.lifecycle.workspace import Workspace

BUILDPACK_DIR = Path(__file__).resolve().parents[2]
FIXTURES = BUILDPACK_DIR / "tests" / "fixtures"
APPS = FIXTURES / "apps"

PYTHON_VERSION = platform.python_version()  # the runtime the tests install: this interpreter's
PYTHON_MAJOR = PYTHON_VERSION.rsplit(".", 1)[0]
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
STACKS = {"scalingo-20": "20.04", "scalingo-22": "22.04", "scalingo-24": "24.04"}


@dataclass
class RuntimeMirror:
    directory: Path
    base_url: str
    catalog: Path
    faults: Faults
    version: str = PYTHON_VERSION

    def archive(self, stack: str = "scalingo-22") -> Path:
        return self.directory / f"python-{self.version}-ubuntu-{STACKS[stack]}-{ARCH}.tar.zst"

    def platform_env(self) -> dict[str, str]:
        return {"BP_PYTHON_RUNTIME_BASE_URL": self.base_url, "BP_PYTHON_RUNTIME_CATALOG": str(self.catalog)}


@dataclass
class AppBuild:
    """One app's successive builds, sharing a workspace (image + cache) like redeploys do."""

    source: Path
    workspace: Workspace
    platform_env: dict[str, str]
    target: Target = field(default_factory=lambda: Target(distro_version="22.04", arch=ARCH))

    def build(self, **extra_env: str) -> BuildResult:
        builder = Builder(BUILDPACK_DIR, self.workspace, target=self.target, platform_env=self.platform_env | extra_env)
        return builder.build(self.source)

    @property
    def launcher(self) -> Launcher:
        return Launcher(self.workspace)

    @property
    def layers(self) -> Path:
        return self.workspace.buildpack_layers
