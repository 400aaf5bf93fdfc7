"""The reference engine: the real CNB lifecycle's phases and launcher, run on this machine as a platform does.

analyzer → detector → restorer → builder → exporter, on Platform API 0.13, with images in an
OCI layout directory (`-layout`, experimental in the lifecycle: `CNB_EXPERIMENTAL_MODE=warn`)
and a volume cache (`-cache-dir`). A layout directory persists between builds without a
daemon or a registry process, so the analyzer and restorer see the image the last export
wrote. Given a registry (platform/registry.py), images go there instead, as a CI platform's
do: the run image is pushed to it, and the exporter publishes the app image to it.
`detector` and `builder` run as the build user; the other phases drop to it themselves.

Launch lays the exported image's layers back at their build-time paths and starts the image's
own launcher (`/cnb/lifecycle/launcher` in the image) as the image's entrypoint would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.descriptor import BuildpackDescriptor

from ..platform import oci
from ..platform.build_image import IMAGE_PYTHONS, BuildUser, build_user, grant_traverse, image_path, install_buildpack
from ..platform.phases import BuildResult, ImageTarget, PhaseResult, run_phase
from ..platform.references import layout_dir, named_after
from ..platform.registry import Registry, push_layout
from ..platform.tools import ReferenceTools
from ..platform.workspace import Workspace, remove

PLATFORM_API = "0.13"
TOOLS_DIR = Path(__file__).resolve().parents[3] / ".tools" / "bin"
IMAGE_NAME = "local/app:latest"
# Lifecycle exit codes (platform API 0.13) that mean "no buildpack applies", not an error.
DETECT_FAILED = 20


def run_image_ref(target: ImageTarget) -> str:
    return f"local/run:{target.distro_version}"


class ReferenceBuilder:
    """One app's builds on the reference lifecycle (same interface as the emulation's Builder)."""

    def __init__(
        self,
        tools: ReferenceTools,
        buildpack_dir: Path,
        workspace: Workspace,
        *,
        target: ImageTarget | None = None,
        platform_env: Mapping[str, str] | None = None,
        build_python: Path | None = None,
        echo: bool = False,
        registry: Registry | None = None,
    ) -> None:
        self.tools = tools
        self.buildpack_dir = buildpack_dir.resolve()
        self.ws = workspace
        self.target = target or ImageTarget()
        self.platform_env = dict(platform_env or {})
        self.build_python = build_python
        self.echo = echo
        self.registry = registry
        self.user = build_user()

    def say(self, message: str) -> None:
        if self.echo:
            print(f"[reference] {message}", flush=True)

    # --- the build --------------------------------------------------------------------------

    def build(self, app_source: Path) -> BuildResult:
        self._prepare(app_source)
        flags = ["-log-level", "info", "-no-color"]
        layers = ["-layers", str(self.ws.layers)]
        analyzed = ["-analyzed", str(self.ws.analyzed)]
        group = ["-group", str(self.ws.group)]
        plan = ["-plan", str(self.ws.plan)]
        ids = ["-uid", str(self.user.uid), "-gid", str(self.user.gid)]
        layout = [] if self.registry else ["-layout", "-layout-dir", str(layout_dir(self.ws.layout))]
        cache = ["-cache-dir", str(self.ws.cache)]
        buildpacks = ["-buildpacks", str(self.ws.buildpacks), "-app", str(self.ws.app),
                      "-platform", str(self.ws.platform)]
        phases: list[PhaseResult] = []

        def fail(result: PhaseResult) -> BuildResult:
            return BuildResult(detect=phases[1] if len(phases) > 1 else _ok("detect"),
                               problems=[f"[lifecycle] {result.phase} failed with exit status {result.exit_code}"],
                               phases=phases)

        analyze = self._phase("analyze", [*flags, *layers, *analyzed, *layout, *ids,
                                          "-run-image", self.run_image, self.image_name])
        phases.append(analyze)
        if not analyze.ok:
            return fail(analyze)
        detect = self._phase("detect", [*flags, *layers, *analyzed, *group, *plan, *buildpacks,
                                        "-order", str(self.ws.order)], as_build_user=True)
        phases.append(detect)
        result = BuildResult(detect=detect, phases=phases)
        if not detect.ok:
            return result
        restore = self._phase("restore", [*flags, *layers, *analyzed, *group, *cache, *layout, *ids])
        phases.append(restore)
        if not restore.ok:
            return fail(restore)
        result.build = self._phase("build", [*flags, *layers, *analyzed, *group, *plan, *buildpacks],
                                   as_build_user=True)
        phases.append(result.build)
        if not result.build.ok:
            return result
        export = self._phase("export", [*flags, *layers, *analyzed, *group, *cache, *layout, *ids,
                                        "-app", str(self.ws.app), "-launcher", str(self.tools.launcher),
                                        self.image_name])
        phases.append(export)
        if not export.ok:
            result.problems = [f"[lifecycle] export failed with exit status {export.exit_code}"]
        return result

    def _prepare(self, app_source: Path) -> None:
        """Fresh app, layers and platform dirs, the buildpack as on a builder, the run image."""
        ws = self.ws
        ws.root.mkdir(parents=True, exist_ok=True)
        grant_traverse(ws.root, self.say)
        for path in (ws.app, ws.layers, ws.platform):
            remove(path)
        shutil.copytree(app_source, ws.app, symlinks=True)
        ws.layers.mkdir()
        (ws.platform / "env").mkdir(parents=True)
        for name, value in self.platform_env.items():
            (ws.platform / "env" / name).write_text(value, encoding="utf-8")
            if name == "BP_PYTHON_RUNTIME_CATALOG" and Path(value).is_absolute():
                grant_traverse(Path(value).parent, self.say)
        descriptor = BuildpackDescriptor.model_validate(toml_io.load(self.buildpack_dir / "buildpack.toml"))
        bp = descriptor.buildpack
        install_buildpack(self.buildpack_dir, ws.buildpacks, bp.id, bp.version)
        toml_io.dump({"order": [{"group": [{"id": bp.id, "version": bp.version}]}]}, ws.order)
        ws.cache.mkdir(exist_ok=True)
        ws.home.mkdir(exist_ok=True)
        run_image = oci.write_run_image(ws.layout, run_image_ref(self.target), arch=self.target.arch,
                                        distro_version=self.target.distro_version)
        if self.registry:
            push_layout(run_image, self.registry, f"{self._repository}/run", self.target.distro_version)
        python = self.build_python
        if python is not None:
            grant_traverse(python.parent, self.say)
        self.build_path = image_path(ws.root / "build-image" / "bin", python)
        self.user.own(ws.app, ws.layers, ws.cache, ws.layout, ws.home)

    @property
    def _repository(self) -> str:
        """This workspace's repositories in the registry: one per workspace, like its layout."""
        return named_after(self.ws.root)

    @property
    def app_repository(self) -> str:
        """The app image's repository in the registry (without the registry's address)."""
        return f"{self._repository}/app"

    @property
    def run_image(self) -> str:
        if self.registry:
            return self.registry.ref(f"{self._repository}/run", self.target.distro_version)
        return run_image_ref(self.target)

    @property
    def image_name(self) -> str:
        return self.registry.ref(self.app_repository) if self.registry else IMAGE_NAME

    def _env(self) -> dict[str, str]:
        """The lifecycle's own environment, as a builder image sets it."""
        env = {
            "PATH": self.build_path,
            "HOME": str(self.ws.home),
            "CNB_PLATFORM_API": PLATFORM_API,
            "CNB_EXPERIMENTAL_MODE": "warn",
        }
        env.update({k: os.environ[k] for k in ("http_proxy", "https_proxy", "no_proxy",
                                                "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY") if k in os.environ})
        if self.target.stack_id:
            env["CNB_STACK_ID"] = self.target.stack_id
        return env

    def _phase(self, phase: str, args: list[str], *, as_build_user: bool = False) -> PhaseResult:
        drop = as_build_user and self.user.drops_privileges
        ids = {"user": self.user.uid, "group": self.user.gid, "extra_groups": []} if drop else {}
        return run_phase(phase, [str(self.tools.lifecycle), phase, *args], self.ws.app, self._env(),
                         self.on_output, **ids)

    def on_output(self, phase: str, line: str, proc: subprocess.Popen[str]) -> None:
        """Called for each line a phase prints (tests override it to act mid-build)."""
        if self.echo:
            sys.stdout.write(line)
            sys.stdout.flush()


def _ok(phase: str) -> PhaseResult:
    return PhaseResult(phase, 0, "", 0.0)


def default_build_python(target: ImageTarget) -> Path | None:
    from ..platform.build_image import local_interpreters

    return local_interpreters().get(IMAGE_PYTHONS.get(target.distro_version, ""))


__all__ = ["BuildUser", "ReferenceBuilder"]
