"""`local-lifecycle`: build and run an app with this buildpack on this machine, without Docker.

    local-lifecycle build [APP]           detect + build + export (APP defaults to examples/flask-pip)
    local-lifecycle run [APP] [--check]   start a process of the built app (default: web)

Three engines (`--engine`): `reference` runs the real CNB lifecycle phases and launcher built by
dev/setup (the default when they are in .tools/bin) on the packaged buildpack; `emulated` is
this package's own emulation of them, for machines without Go and for fault injection; `pack`
is `pack build` with a stand-in builder on the Docker daemon of `dev/docker`, then `docker run`.

The production runtime host may be out of reach (CI, air-gapped machines), so by default the
runtime comes from a private mirror made from a local interpreter and served on loopback:
exactly what a platform operator's mirror looks like (catalogue + archives, see README).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from python_buildpack.stacks.table import STACK_TO_UBUNTU

from ..emulated.builder import Builder
from ..emulated.launcher import Launcher
from ..platform.build_image import host_trust_env
from ..platform.phases import ImageTarget, LaunchError, host_arch
from ..platform.ports import free_port
from ..platform.tools import ReferenceTools
from ..platform.workspace import Workspace, default_root
from ..reference.builder import PLATFORM_API, ReferenceBuilder, default_build_python
from ..reference.launcher import ReferenceLauncher

BUILDPACK_DIR = Path(__file__).resolve().parents[3]
DEFAULT_APP = BUILDPACK_DIR / "examples" / "flask-pip"


def say(message: str) -> None:
    print(f"[local-lifecycle] {message}", flush=True)


def _env_pairs(values: list[str]) -> dict[str, str]:
    env = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env takes NAME=VALUE, got {item!r}")
        env[name] = value
    return env


@contextmanager
def local_runtime_mirror(prefixes: list[Path], stack: str, arch: str,
                         extra: list[Path] | None = None) -> Iterator[dict[str, str]]:
    """Serves runtime archives made from local interpreters; yields the platform env to use them.

    The newest of `prefixes` is the catalogue's default; `extra` interpreters are only listed
    (the one lib/bootstrap.sh fetches to run the buildpack on an image without a usable python3).
    """
    import hashlib
    import subprocess

    from ..runtime_mirror.archives import make_runtime_archive
    from ..runtime_mirror.catalog import write_catalog
    from ..runtime_mirror.server import serve

    mirror_dir = default_root().parent / "runtime-mirror"
    files = mirror_dir / "files"
    majors: dict[str, str] = {}
    pins: dict[str, str] = {}
    defaults: list[str] = []
    for prefix in [*prefixes, *(extra or [])]:
        python = prefix / "bin" / "python3"
        version = subprocess.run(
            [str(python), "-c", "import platform; print(platform.python_version())"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        archive = make_runtime_archive(
            prefix, files, version, STACK_TO_UBUNTU[stack], arch, cache_dir=mirror_dir / "cache"
        )
        majors[version.rsplit(".", 1)[0]] = version
        if prefix in prefixes:
            defaults.append(version.rsplit(".", 1)[0])
        pins[archive.name] = hashlib.sha256(archive.read_bytes()).hexdigest()
        say(f"runtime mirror: {archive.name} (from {prefix})")
    catalog = files / f"catalog-{stack}.toml"
    default = sorted(defaults, key=lambda m: tuple(int(p) for p in m.split(".")))[-1]
    write_catalog(catalog, {stack: majors}, default, pins)
    with serve(files) as base_url:
        say(f"runtime mirror: serving {files} at {base_url}")
        yield {"BP_PYTHON_RUNTIME_BASE_URL": base_url, "BP_PYTHON_RUNTIME_CATALOG": str(catalog)}


def _engine(args: argparse.Namespace) -> ReferenceTools | None:
    """The reference tools when that engine is chosen (or defaulted to), None for the emulation."""
    tools = ReferenceTools.find()
    if args.engine == "pack":
        return tools
    if args.engine == "reference" and tools is None:
        raise SystemExit("[local-lifecycle] --engine reference: no lifecycle/launcher in .tools/bin: run dev/setup")
    if args.engine == "emulated":
        return None
    return tools


def _workspace(app: Path, args: argparse.Namespace, reference: bool) -> Workspace:
    root = Path(args.workdir) if args.workdir else default_root().parent / ("reference" if reference else "emulated")
    return Workspace.for_app(app, root)


def cmd_build(args: argparse.Namespace) -> int:
    app = Path(args.app).resolve()
    if not app.is_dir():
        say(f"no such app directory: {app}")
        return 2
    tools = _engine(args)
    if args.engine == "pack":
        return _pack_build(args, app)
    ws = _workspace(app, args, tools is not None)
    if args.clear_cache:
        from ..platform.workspace import remove

        remove(ws.cache)
        say("cache cleared")
    target = ImageTarget(distro_version=STACK_TO_UBUNTU[args.stack], arch=args.arch, stack_id=args.stack_id or "")
    # This machine's CA settings, as an operator behind a TLS-intercepting proxy passes them.
    platform_env = host_trust_env() | _env_pairs(args.env)
    if tools is None:
        say("engine: emulated (this package's local lifecycle)")
    else:
        say(f"engine: reference (lifecycle {tools.version()}, Platform API {PLATFORM_API})")
    say(f"building {app} for {args.stack} ({target.arch}) in {ws.root}")
    with ExitStack() as stack:
        if args.runtime == "local":
            prefixes = [Path(p) for p in args.python_prefix] or [Path(sys.base_prefix)]
            platform_env = stack.enter_context(local_runtime_mirror(prefixes, args.stack, target.arch)) | platform_env
        start = time.monotonic()
        builder: Builder | ReferenceBuilder
        if tools is None:
            builder = Builder(BUILDPACK_DIR, ws, target=target, platform_env=platform_env, echo=True)
        else:
            from ..platform.build_image import ensure_artifact

            artifact = ensure_artifact(BUILDPACK_DIR, default_root().parent / "artifact" / "scalingo-python", say)
            python = default_build_python(target)
            say(f"build image: Ubuntu {target.distro_version}, python3 = {python or 'none'}; buildpack: {artifact}")
            builder = ReferenceBuilder(tools, artifact, ws, target=target, platform_env=platform_env,
                                       build_python=python, echo=True)
        result = builder.build(app)
    for problem in result.problems:
        say(problem)
    status = "succeeded" if result.ok else "failed"
    say(f"build {status} in {time.monotonic() - start:.1f}s")
    if result.ok:
        image = ws.layout if tools is not None else ws.image
        # The options that find this image again.
        again = ["--engine", args.engine] if args.engine else []
        again += ["--workdir", args.workdir] if args.workdir else []
        say(f"image: {image}; run it with: {shlex.join(['local-lifecycle', 'run', *again, str(app)])}")
    if not result.detect.ok:
        return result.detect.exit_code or 1
    return 0 if result.ok else 1


def _pack_build(args: argparse.Namespace, app: Path) -> int:
    from python_buildpack_dev.pack import commands
    from python_buildpack_dev.pack.stand_ins import Variant

    from ..platform.build_image import ensure_artifact, local_interpreters

    artifact = ensure_artifact(BUILDPACK_DIR, default_root().parent / "artifact" / "scalingo-python", say)
    platform_env = host_trust_env() | _env_pairs(args.env)
    say(f"building {app} for {args.stack} with pack (build image: {args.build_image})")
    if args.runtime != "local":
        return commands.build(args, app, artifact, platform_env, say)
    prefixes = [Path(p) for p in args.python_prefix] or [Path(sys.base_prefix)]
    # An image without a python3 the buildpack can run on bootstraps one from the same mirror.
    bootstrap = local_interpreters().get("3.12") if args.build_image != Variant.SUPPORTED.value else None
    extra = [bootstrap.parent.parent] if bootstrap else []
    with local_runtime_mirror(prefixes, args.stack, args.arch, extra=extra) as mirror:
        return commands.build(args, app, artifact, mirror | platform_env, say)


def cmd_run(args: argparse.Namespace) -> int:
    app = Path(args.app).resolve()
    if args.engine == "pack":
        from python_buildpack_dev.pack import commands

        runtime_env = _env_pairs(args.env)
        port = args.port or free_port()
        runtime_env.setdefault("PORT", str(port))
        return commands.run(args, app, runtime_env, int(runtime_env["PORT"]), say)
    tools = _engine(args)
    ws = _workspace(app, args, tools is not None)
    launcher: Launcher | ReferenceLauncher = Launcher(ws) if tools is None else ReferenceLauncher(ws)
    say("engine: emulated" if tools is None else f"engine: reference (launcher {tools.version()} from the image)")
    runtime_env = _env_pairs(args.env)
    port = args.port or (free_port() if args.check else 5000)
    runtime_env.setdefault("PORT", str(port))
    try:
        proc = launcher.popen(args.process, runtime_env, args.args or None)
    except LaunchError as error:
        say(str(error))
        return 1
    if not args.check:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGTERM)
            return proc.wait()
    url = f"http://127.0.0.1:{runtime_env['PORT']}/"
    try:
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    say(f"GET {url} -> HTTP {response.status}: {response.read(200).decode(errors='replace')!r}")
                    return 0
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        say(f"the process did not answer on {url} within {args.timeout}s")
        return 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-lifecycle", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("app", nargs="?", default=str(DEFAULT_APP), help="app directory (default: %(default)s)")
        p.add_argument("--workdir", help=f"where images and caches live (default: under {default_root()})")
        p.add_argument("--env", "-e", action="append", default=[], metavar="NAME=VALUE")
        p.add_argument("--engine", choices=["reference", "emulated", "pack"],
                       help="reference: the real lifecycle from .tools/bin (default when built); emulated: ours; "
                            "pack: pack build and docker run on the Docker daemon of dev/docker")

    build = sub.add_parser("build", help="detect, build and export an app")
    common(build)
    build.add_argument("--stack", choices=sorted(STACK_TO_UBUNTU), default="scalingo-22")
    build.add_argument("--arch", default=host_arch())
    build.add_argument("--stack-id", help="send CNB_STACK_ID instead of CNB_TARGET_* (older platforms)")
    build.add_argument("--runtime", choices=["local", "remote"], default="local",
                       help="local: mirror local interpreters over loopback; remote: the configured host")
    build.add_argument("--python-prefix", action="append", default=[],
                       help="interpreter prefix to mirror (repeatable; default: this interpreter's)")
    build.add_argument("--clear-cache", action="store_true", help="forget cached layers first")
    build.add_argument("--build-image", choices=["supported", "unsupported-python", "no-python"],
                       default="supported",
                       help="pack engine: the stand-in build image's python3 (the stack's, an unsupported "
                            "one, none)")
    build.set_defaults(func=cmd_build)

    run = sub.add_parser("run", help="start a process of the built app")
    common(run)
    run.add_argument("--process", "-p", help="process type (default: the default process)")
    run.add_argument("--port", type=int)
    run.add_argument("--check", action="store_true", help="GET / once it listens, print the answer, stop")
    run.add_argument("--timeout", type=float, default=30)
    run.add_argument("--memory", "-m", help="pack engine: the container's memory limit (docker run --memory)")
    run.add_argument("--user", "-u", help="pack engine: run as this uid[:gid] (docker run --user)")
    run.add_argument("--read-only", action="store_true",
                     help="pack engine: read-only root filesystem, with a tmpfs /tmp")
    run.add_argument("args", nargs="*", help="arguments replacing the process's default args")
    run.set_defaults(func=cmd_run)

    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return int(args.func(args))
