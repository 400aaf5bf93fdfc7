"""Dependency step: cold build, warm no-change rebuild, and a bare `pip install -r` for scale.

    .venv/bin/python benchmarks/deps.py [--runs 3] [--pip-app django-gunicorn] [--uv-app uv-basic]

Runs `dependencies.install` in process, as bin/build does after the runtime step, with this
interpreter's prefix as the runtime and the environment a lifecycle gives a build.

- cold: empty layers dir and empty download caches (the pinned tools are installed, every
  package is downloaded);
- warm: a rebuild with nothing changed (target: under 1 s; no installer runs);
- bare (pip app only): `python -m venv` + `<venv>/bin/pip install -r requirements.txt` with an
  empty cache, on the same machine in the same run (target: cold within 1.2x of it).

Every measure is the median of `--runs` runs; cold and bare runs alternate, so that a change
of network speed during the run affects both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from python_buildpack import dependencies
from python_buildpack.caching.plan import CachePlan
from python_buildpack.layers.python import Runtime
from python_buildpack.project import with_runtime
from python_buildpack.stacks.identify import Stack
from python_buildpack.stacks.table import STACK_TO_UBUNTU
from python_buildpack.step_context import Context
from python_buildpack_dev.emulated.builder import HOST_ENV_ALLOWLIST
from python_buildpack_dev.platform.build_image import host_trust_env
from python_buildpack_dev.platform.phases import host_arch

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "tests" / "fixtures" / "apps"
PYTHON_HOME = Path(sys.base_prefix)
ARCH = host_arch()
STACK = Stack(name="scalingo-22", ubuntu_version=STACK_TO_UBUNTU["scalingo-22"], arch=ARCH, source="benchmark")


def build_env() -> dict[str, str]:
    # what the lifecycle passes, plus this machine's CA settings as platform env (a TLS proxy)
    env = {k: os.environ[k] for k in HOST_ENV_ALLOWLIST if k in os.environ} | host_trust_env()
    env["PATH"] = f"{PYTHON_HOME / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env


def install(app: Path, layers: Path) -> float:
    """One dependency step; its log is swallowed (it is printed if the step fails)."""
    env = build_env()
    ctx = Context(app, layers, ROOT, env)
    log = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            project = with_runtime(ctx, STACK, platform.python_version())
            dependencies.install(ctx, env, project, Runtime(PYTHON_HOME, platform.python_version(), STACK), CachePlan())
    except BaseException:
        print(log.getvalue(), file=sys.stderr)
        raise
    return time.perf_counter() - start


def bare_pip(app: Path, work: Path) -> float:
    venv, cache = work / "bare-venv", work / "bare-cache"
    env = build_env() | {"PIP_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run([str(PYTHON_HOME / "bin" / "python3"), "-m", "venv", str(venv)], env=env, check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=app,
        env=env,
        check=True,
    )
    return time.perf_counter() - start


def measure(app_name: str, runs: int, work: Path, with_bare: bool) -> dict[str, float]:
    app = work / "app"
    shutil.copytree(APPS / app_name, app)
    cold: list[float] = []
    warm: list[float] = []
    bare: list[float] = []
    for run in range(runs):
        layers = work / f"layers-{run}"
        layers.mkdir()
        if with_bare:
            bare.append(_fresh(work, lambda: bare_pip(app, work)))
        cold.append(install(app, layers))
        warm.append(min(install(app, layers) for _ in range(5)))
        shutil.rmtree(layers)
    result = {"cold": statistics.median(cold), "warm": statistics.median(warm)}
    if bare:
        result["bare"] = statistics.median(bare)
    return result


def _fresh(work: Path, step: Callable[[], float]) -> float:
    for name in ("bare-venv", "bare-cache"):
        shutil.rmtree(work / name, ignore_errors=True)
    try:
        return step()
    finally:
        for name in ("bare-venv", "bare-cache"):
            shutil.rmtree(work / name, ignore_errors=True)


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pip-app", default="django-gunicorn", help="fixture app under tests/fixtures/apps")
    parser.add_argument("--uv-app", default="uv-basic", help="fixture app under tests/fixtures/apps")
    args = parser.parse_args()
    print(f"Python {platform.python_version()} at {PYTHON_HOME}, {os.cpu_count()} CPUs, {args.runs} run(s) each")
    for manager, app_name in (("pip", args.pip_app), ("uv", args.uv_app)):
        with tempfile.TemporaryDirectory(prefix=f"deps-bench-{manager}-") as tmp:
            result = measure(app_name, args.runs, Path(tmp), with_bare=manager == "pip")
        print(f"\n{manager} app ({app_name})")
        print(f"  cold build, dependencies step      {seconds(result['cold']):>9}")
        print(f"  warm rebuild, nothing changed      {seconds(result['warm']):>9}   (target: under 1 s)")
        if "bare" in result:
            ratio = result["cold"] / result["bare"]
            print(f"  bare python -m venv + pip install  {seconds(result['bare']):>9}")
            print(f"  cold / bare                        {ratio:>8.2f}x   (target: 1.2x at most)")


if __name__ == "__main__":
    main()
