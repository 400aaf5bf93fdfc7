"""Test support for the pack engine: one Docker daemon, the stand-in builders, a mirror and a registry.

`PackEngine` is made once per session (tests/conftest.py: `pack_engine`): the stand-in images and
builders are made on first use and reused by every test. Each app build gets its own image name
and cache volumes, removed when the test ends.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from python_buildpack_dev.pack.builders import Builders
from python_buildpack_dev.pack.daemon import Docker
from python_buildpack_dev.pack.engine import Container, PackBuild, RunOptions, app_image_name
from python_buildpack_dev.pack.stand_ins import Variant
from python_buildpack_dev.platform.tools import ReferenceTools

from .serving import free_port


@dataclass
class PackEngine:
    docker: Docker
    tools: ReferenceTools
    artifact: Path
    platform_env: dict[str, str]  # the mirror and the host's CA settings, as the build container sees them
    volumes: dict[Path, str]
    builders: Builders = field(init=False)
    made: list[PackBuild] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.tools.pack is not None
        self.builders = Builders(self.docker, self.tools.pack, self.tools, log=lambda line: print(line, flush=True))
        self._builders: dict[tuple[str, Variant, tuple[Path, ...]], str] = {}

    def builder(self, stack: str = "scalingo-22", variant: Variant = Variant.SUPPORTED,
                later: tuple[Path, ...] = ()) -> str:
        key = (stack, variant, later)
        if key not in self._builders:
            self._builders[key] = self.builders.ensure(stack, self.artifact, variant, later)
        return self._builders[key]

    def app(self, source: Path, *, stack: str = "scalingo-22", variant: Variant = Variant.SUPPORTED,
            later: tuple[Path, ...] = (), env: dict[str, str] | None = None, trusted: bool = True,
            **kwargs: object) -> PackBuild:
        """Successive builds of `source` with the stand-in builder of `stack` (removed at the end).

        Not `trusted`: pack's five-phase flow, its privileged phases in the lifecycle image."""
        assert self.tools.pack is not None
        lifecycle_image = None if trusted else self.builders.lifecycle_image()
        build = PackBuild(self.docker, self.tools.pack, self.builder(stack, variant, later), app_image_name(source),
                          platform_env=self.platform_env | (env or {}), volumes=self.volumes,
                          trust_builder=trusted, lifecycle_image=lifecycle_image,
                          **kwargs)  # type: ignore[arg-type]
        self.made.append(build)
        return build

    def container(self, image: str) -> Container:
        return Container(self.docker, image)

    def clean_up(self) -> None:
        for build in self.made:
            build.remove()
        self.made.clear()


@contextmanager
def serving(container: Container, name: str, options: RunOptions | None = None,
            process: str | None = None) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Starts a process of the image on a free port (host network); stops the container after."""
    port = free_port()
    options = options or RunOptions()
    options = dataclasses.replace(options, env={"PORT": str(port), **options.env})
    proc = container.start(name, options, process, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield port, proc
    finally:
        container.stop(name)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            container.docker.run("kill", name, check=False)
            proc.wait(timeout=30)


def get_until(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> tuple[int, str]:
    """GET `url` until it answers; fails at once if the container ended."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


