"""`pack build` and `docker run` of one app, as users and CI pipelines type them.

`PackBuild` has the interface of the other engines' builders (`build(app) -> BuildResult`): the
phases are read from the lifecycle's `===> ANALYZING` ... `===> EXPORTING` headers as they
stream, so that each gets its wall time (pack's own set-up counts as the phase `pack`). Builds
and containers use the host network: the runtime mirror, the package index and the registry
are reached as from the host. Files the build reads from the host (the runtime catalogue) are
mounted with `--volume`, as `pack build` users do; the platform env goes as `--env`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..platform.phases import BuildResult, PhaseResult
from ..platform.references import named_after
from .builders import pack_env
from .daemon import Docker

NAMESPACE = "scalingo-python-dev"
_HEADERS = {"ANALYZING": "analyze", "DETECTING": "detect", "RESTORING": "restore", "BUILDING": "build",
            "EXPORTING": "export"}
_HEADER = re.compile(r"===> ([A-Z]+)")
_STATUS = re.compile(r"failed with status code: (\d+)")
# The lifecycle's exit status when no group passes detection (Platform API 0.13).
DETECT_FAILED = 20


def app_image_name(app: Path, namespace: str = NAMESPACE) -> str:
    """A valid image reference for an app directory, whatever its name (references are lowercase)."""
    return f"{namespace}/app-{named_after(app, digits=8)}"


@dataclass
class PackBuild:
    """One app's successive `pack build`s into one image name, sharing their cache like redeploys."""

    docker: Docker
    pack: Path
    builder: str
    image: str
    platform_env: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[Path, str] = field(default_factory=dict)  # host dir -> mount point (read-only)
    buildpacks: Sequence[str] = ()  # `--buildpack` values: another group than the builder's order
    run_image: str | None = None
    publish: bool = False
    cache_image: str | None = None
    echo: bool = False
    trust_builder: bool = True  # False: pack's five-phase flow, the privileged phases in `lifecycle_image`
    lifecycle_image: str | None = None
    extra_args: Sequence[str] = ()

    @property
    def cache_volumes(self) -> tuple[str, str]:
        """The build and launch cache volumes (named, so that a clean-up can name them)."""
        base = re.sub(r"[^a-z0-9_.-]+", "-", self.image.lower())
        return f"{base}-build-cache", f"{base}-launch-cache"

    def argv(self, app: Path, *, clear_cache: bool = False) -> list[str]:
        argv = [str(self.pack), "build", self.image, "--builder", self.builder, "--path", str(app),
                "--pull-policy", "never", "--network", "host", "--docker-host", "inherit"]
        if self.trust_builder:
            argv.append("--trust-builder")
        if self.lifecycle_image:
            argv += ["--lifecycle-image", self.lifecycle_image]
        build_volume, launch_volume = self.cache_volumes
        if self.cache_image:
            argv += ["--cache-image", self.cache_image]
        else:
            argv += ["--cache", f"type=build;format=volume;name={build_volume}",
                     "--cache", f"type=launch;format=volume;name={launch_volume}"]
        if self.publish:
            argv.append("--publish")
        if self.run_image:
            argv += ["--run-image", self.run_image]
        for buildpack in self.buildpacks:
            argv += ["--buildpack", buildpack]
        for host, mount in self.volumes.items():
            argv += ["--volume", f"{host}:{mount}:ro"]
        for name, value in self.platform_env.items():
            argv += ["--env", f"{name}={value}"]
        if clear_cache:
            argv.append("--clear-cache")
        return [*argv, *self.extra_args]

    def build(self, app: Path, *, clear_cache: bool = False) -> BuildResult:
        start = time.monotonic()
        proc = subprocess.Popen(self.argv(app.resolve(), clear_cache=clear_cache), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                env=pack_env(self.docker))
        assert proc.stdout is not None
        phases: list[tuple[str, float, list[str]]] = [("pack", start, [])]
        for line in proc.stdout:
            header = _HEADER.search(line)
            if header and header.group(1) in _HEADERS:
                phases.append((_HEADERS[header.group(1)], time.monotonic(), []))
            phases[-1][2].append(line)
            if self.echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        code = proc.wait()
        end = time.monotonic()
        results = []
        for index, (phase, began, lines) in enumerate(phases):
            finished = phases[index + 1][1] if index + 1 < len(phases) else end
            results.append(PhaseResult(phase, 0, "".join(lines), finished - began))
        if code != 0:
            status = _STATUS.search(results[-1].output)
            last = results[-1]
            results[-1] = PhaseResult(last.phase, int(status.group(1)) if status else code, last.output, last.seconds)
        by_phase = {result.phase: result for result in results}
        detect = by_phase.get("detect") or PhaseResult("detect", code or 1, results[-1].output, 0.0)
        outcome = BuildResult(detect=detect, build=by_phase.get("build"), phases=results)
        if code != 0 and outcome.ok:  # failed after the build: export, or pushing the cache
            outcome.problems.append(f"[pack] pack build failed with exit status {code} after the build phase")
        return outcome

    def remove(self) -> None:
        """The app's image and cache volumes: what a clean daemon does not have."""
        self.docker.remove_images([self.image])
        self.docker.run("volume", "rm", "--force", *self.cache_volumes, check=False)


@dataclass(frozen=True)
class RunOptions:
    """What `docker run` gets besides the image: the limits and hardening of production containers."""

    memory: str | None = None  # "512m"
    user: str | None = None  # "4321:0"
    read_only: bool = False  # read-only root filesystem, with a tmpfs /tmp as such deployments mount
    cap_drop_all: bool = False
    no_new_privileges: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        argv = ["--network", "host"]
        if self.memory:
            argv += ["--memory", self.memory]
        if self.user:
            argv += ["--user", self.user]
        if self.read_only:
            argv += ["--read-only", "--tmpfs", "/tmp"]
        if self.cap_drop_all:
            argv += ["--cap-drop", "ALL"]
        if self.no_new_privileges:
            argv += ["--security-opt", "no-new-privileges"]
        for name, value in self.env.items():
            argv += ["--env", f"{name}={value}"]
        return argv


HARDENED = RunOptions(user="4321:0", read_only=True, cap_drop_all=True, no_new_privileges=True)


@dataclass
class Container:
    """`docker run` of an app image: a process type, or a one-off command through the launcher."""

    docker: Docker
    image: str

    def start(self, name: str, options: RunOptions = RunOptions(), process: str | None = None,
              args: Sequence[str] = (), **popen: object) -> subprocess.Popen[bytes]:
        """Starts a process in the foreground of `docker run` (its exit status is the container's)."""
        argv = ["docker", "run", "--rm", "--name", name, *options.argv()]
        if process:
            argv += ["--entrypoint", process]
        return subprocess.Popen([*argv, self.image, *args], env=self.docker.env(),  # type: ignore[call-overload,no-any-return]
                                **popen)

    def stop(self, name: str, timeout: int = 10) -> None:
        self.docker.run("stop", "--time", str(timeout), name, check=False)

    def run(self, argv: Sequence[str], options: RunOptions = RunOptions(),
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A one-off command in the launch environment (`docker run --entrypoint launcher image -- cmd`)."""
        return subprocess.run(
            ["docker", "run", "--rm", *options.argv(), "--entrypoint", "launcher", self.image, "--", *argv],
            capture_output=True, text=True, env=self.docker.env(), timeout=timeout, check=False,
        )
