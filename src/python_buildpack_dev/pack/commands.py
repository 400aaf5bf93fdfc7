"""`local-lifecycle build|run --engine pack`: the pack engine behind the CLI.

`build` makes (once) the stand-in images and builder for the stack, then runs `pack build`
with the loopback runtime mirror: its directory is mounted at `/runtime-mirror` and the
catalogue is named by that path. `run` is `docker run` of the app's image, with the memory
limit, user and read-only root filesystem of a production container.
"""

from __future__ import annotations

import argparse
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..platform.tools import ReferenceTools
from .builders import Builders
from .daemon import Docker, DockerError, find
from .engine import Container, PackBuild, RunOptions, app_image_name
from .stand_ins import STACKS, Variant

MIRROR_MOUNT = "/runtime-mirror"


def connect(say: Callable[[str], None]) -> tuple[Docker, ReferenceTools]:
    docker = find()
    if isinstance(docker, str):
        raise SystemExit(f"[local-lifecycle] --engine pack: {docker}")
    tools = ReferenceTools.find()
    if tools is None or tools.pack is None:
        raise SystemExit("[local-lifecycle] --engine pack: no pack in .tools/bin: run dev/setup (needs Go)")
    return docker, tools


def mirror_env(platform_env: Mapping[str, str]) -> tuple[dict[str, str], dict[Path, str]]:
    """The platform env as the build container sees it: the catalogue's directory mounted."""
    env = dict(platform_env)
    volumes: dict[Path, str] = {}
    catalog = env.get("BP_PYTHON_RUNTIME_CATALOG")
    if catalog and Path(catalog).is_absolute() and Path(catalog).exists():
        volumes[Path(catalog).parent] = MIRROR_MOUNT
        env["BP_PYTHON_RUNTIME_CATALOG"] = f"{MIRROR_MOUNT}/{Path(catalog).name}"
    return env, volumes


def build(args: argparse.Namespace, app: Path, artifact: Path, platform_env: Mapping[str, str],
          say: Callable[[str], None]) -> int:
    if args.stack not in STACKS:
        say(f"--engine pack has stand-in images for {', '.join(STACKS)} only, not {args.stack}")
        return 2
    docker, tools = connect(say)
    assert tools.pack is not None
    variant = Variant(args.build_image)
    try:
        builder = Builders(docker, tools.pack, tools, log=say).ensure(args.stack, artifact, variant)
    except DockerError as error:
        say(str(error))
        return 1
    env, volumes = mirror_env(platform_env)
    image = app_image_name(app)
    say(f"engine: pack ({tools.pack} {_pack_version(tools)}, builder {builder}, daemon {docker.host})")
    start = time.monotonic()
    result = PackBuild(docker, tools.pack, builder, image, platform_env=env, volumes=volumes,
                       echo=True).build(app, clear_cache=args.clear_cache)
    status = "succeeded" if result.ok else "failed"
    say(f"build {status} in {time.monotonic() - start:.1f}s")
    if result.ok:
        say(f"image: {image}; run it with: local-lifecycle run {args.app} --engine pack")
    if not result.detect.ok:
        return result.detect.exit_code or 1
    return 0 if result.ok else 1


def _pack_version(tools: ReferenceTools) -> str:
    assert tools.pack is not None
    return subprocess.run([str(tools.pack), "version"], capture_output=True, text=True, check=False).stdout.strip()


def run(args: argparse.Namespace, app: Path, runtime_env: dict[str, str], port: int,
        say: Callable[[str], None]) -> int:
    docker = find()
    if isinstance(docker, str):
        raise SystemExit(f"[local-lifecycle] --engine pack: {docker}")
    image = app_image_name(app)
    if docker.image_id(image) is None:
        say(f"no image {image}: build the app first (local-lifecycle build {args.app} --engine pack)")
        return 1
    options = RunOptions(memory=args.memory, user=args.user, read_only=args.read_only, env=runtime_env)
    say(f"engine: pack (docker run {' '.join(options.argv())} {image})")
    container = Container(docker, image)
    name = f"{image.rsplit('/', 1)[-1]}-{port}"
    proc = container.start(name, options, args.process, args.args)
    if not args.check:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            container.stop(name)
            return proc.wait()
    try:
        return 0 if answers(f"http://127.0.0.1:{port}/", proc, args.timeout, say) else 1
    finally:
        container.stop(name)
        proc.wait(timeout=30)


def answers(url: str, proc: subprocess.Popen[Any], timeout: float, say: Callable[[str], None]) -> bool:
    """GETs `url` until it answers (and says what), the process ends, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                say(f"GET {url} -> HTTP {response.status}: {response.read(200).decode(errors='replace')!r}")
                return True
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    say(f"the process did not answer on {url} within {timeout}s")
    return False
