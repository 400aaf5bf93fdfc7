"""The Docker daemon of the container tier, and the `docker` commands run against it.

`dev/docker start` records the daemon it uses in `.tools/docker/env` (the project's own daemon,
or the machine's when `docker info` already answered). Without that file, the environment's
`DOCKER_HOST` (or the client's default) is tried. When none answers, `find` says why, in one
line, so that callers (the CLI, the tests' skip reason) can print it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
STATE = REPO / ".tools" / "docker"
# The variables the docker client and pack read from the environment; nothing else is passed.
_CLIENT_ENV = ("PATH", "HOME", "DOCKER_CONFIG", "http_proxy", "https_proxy", "no_proxy",
               "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


class DockerError(Exception):
    """A docker command failed: the message has the command and its output."""


@dataclass(frozen=True)
class Docker:
    host: str  # DOCKER_HOST

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {name: os.environ[name] for name in _CLIENT_ENV if name in os.environ}
        return {**env, "DOCKER_HOST": self.host, **(extra or {})}

    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            timeout: float = 600, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["docker", *args], input=input.decode() if input is not None else None,
                              capture_output=True, text=True, env=self.env(), timeout=timeout,
                              check=False, cwd=cwd)
        if check and done.returncode != 0:
            raise DockerError(f"docker {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    def inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        """`docker <kind> inspect name`, or None when there is no such object."""
        done = self.run(kind, "inspect", name, check=False)
        if done.returncode != 0:
            return None
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found[0] if found else None

    def image_id(self, name: str) -> str | None:
        found = self.inspect("image", name)
        return str(found["Id"]) if found else None

    def remove_images(self, names: Sequence[str]) -> None:
        if names:
            self.run("image", "rm", "--force", *names, check=False)


def _answers(host: str) -> bool:
    if shutil.which("docker") is None:
        return False
    env = {**{k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}, "DOCKER_HOST": host}
    try:
        done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                              env=env, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def recorded_host(state: Path = STATE) -> str | None:
    env_file = state / "env"
    if not env_file.is_file():
        return None
    for line in env_file.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if name == "DOCKER_HOST" and value:
            return value
    return None


def find(state: Path = STATE) -> Docker | str:
    """The tier's daemon, or one line saying why there is none."""
    if shutil.which("docker") is None:
        return "no docker client on PATH: run dev/setup (it installs docker.io as root on Debian-like machines)"
    recorded = recorded_host(state)
    if recorded and _answers(recorded):
        return Docker(recorded)
    default = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if _answers(default):
        return Docker(default)
    if recorded:
        return f"the Docker daemon at {recorded} does not answer: start it with dev/docker start"
    return "no Docker daemon answers: dev/docker start starts one (as root on a Debian-like machine)"
