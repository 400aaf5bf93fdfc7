"""The whole benchmark behind `benchmarks/run`: detect, builds, exec.d, layer sizes, baselines.

    benchmarks/run [--apps pip,uv,django,pip-uv,pip-nobc] [--cold-runs 1] [--warm-runs 5] [--startup-runs 30] [--keep]

Every figure is measured in this run, in a fresh temporary directory, with empty download
caches at the start; the runtime comes from a loopback mirror made from this interpreter, the
packages from the real PyPI (machine-wide pip configuration is disabled on both sides, so
that neither reads a local index). Builds run the real bin/detect and bin/build through the
local lifecycle; "buildpack time" is the bin/build phase as the lifecycle measures it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import exec_d
from support import (
    APPS,
    ARCH,
    ROOT,
    disk_usage,
    machine,
    median_run,
    megabytes,
    parse_duration,
    runtime_mirror,
    seconds,
    timed_run,
)

from python_buildpack.tool_versions import TOOL_VERSIONS
from python_buildpack_dev.emulated.builder import HOST_ENV_ALLOWLIST, Builder
from python_buildpack_dev.platform.build_image import host_trust_env
from python_buildpack_dev.platform.phases import BuildResult, ImageTarget
from python_buildpack_dev.platform.workspace import Workspace

BENCH_APPS = Path(__file__).resolve().parent / "apps"
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"
# No /etc/pip.conf or ~/.config/pip: both the buildpack and the baselines go to pypi.org.
NO_PIP_CONFIG = {"PIP_CONFIG_FILE": os.devnull}
# The machine's own trust settings (a TLS-inspecting proxy's CA), for both sides alike: older pips
# (ensurepip's) and uv do not read the system store by default.
HOST_TRUST = host_trust_env()
HOST_TRUST |= {"UV_SYSTEM_CERTS": "1"} if HOST_TRUST else {}
TARGET_DETECT_RATIO = 2.0
TARGET_WARM_SECONDS = 1.0
TARGET_EXEC_D_MS = 5.0


# --- the apps --------------------------------------------------------------------------------


def _append(line: str) -> Callable[[Path], None]:
    def change(app: Path) -> None:
        with (app / "requirements.txt").open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    return change


def _copy_from(source: Path, *names: str) -> Callable[[Path], None]:
    def change(app: Path) -> None:
        for name in names:
            shutil.copy2(source / name, app / name)

    return change


@dataclass(frozen=True)
class AppSpec:
    key: str
    fixture: Path
    manager: str
    change: Callable[[Path], None]
    change_text: str
    settings: dict[str, str] = field(default_factory=dict)  # platform env of this app's builds
    bytecode: bool = True  # whether the runtime archive ships the standard library's byte-code


REQUESTS, WHITENOISE = "requests==2.32.5", "whitenoise==6.12.0"
APP_SPECS = {
    "pip": AppSpec("pip", APPS / "pip-flask", "pip", _append(REQUESTS), f"requirements.txt + {REQUESTS}"),
    "uv": AppSpec(
        "uv",
        APPS / "uv-basic",
        "uv",
        _copy_from(BENCH_APPS / "uv-basic-plus-requests", "pyproject.toml", "uv.lock"),
        f"pyproject.toml + uv.lock with {REQUESTS}",
    ),
    "django": AppSpec(
        "django", APPS / "django-gunicorn", "pip", _append(WHITENOISE), f"requirements.txt + {WHITENOISE}"
    ),
    # The pip app installed by uv (BP_PYTHON_INSTALLER=uv), compared with the same bare pip baseline.
    "pip-uv": AppSpec(
        "pip-uv", APPS / "pip-flask", "pip", _append(REQUESTS), f"requirements.txt + {REQUESTS}",
        settings={"BP_PYTHON_INSTALLER": "uv"},
    ),
    # The pip app on an archive without byte-code: the fallback that compiles the standard library.
    "pip-nobc": AppSpec(
        "pip-nobc", APPS / "pip-flask", "pip", _append(REQUESTS), f"requirements.txt + {REQUESTS}", bytecode=False
    ),
}


# --- builds ------------------------------------------------------------------------------------


@dataclass
class Build:
    detect: float
    build: float  # bin/build wall time, as the lifecycle measures it: the buildpack time
    done: float | None  # the build log's own "Done (…)" figure
    total: float  # detect + restore + build + export
    steps: dict[str, float]


_STEP_START = re.compile(r"^\s+- (.+) \.\.\.$")
# A tool's wheel fetched in the background while the runtime downloads and installs.
_FETCHED = re.compile(r"^\s+- Fetched (\S+) \S+ while Python was installed \((.+)\)$")
_STEP_DONE = re.compile(r"^\s+done \((.+)\)$")
_DONE = re.compile(r"^## Done \((.+)\)$", re.MULTILINE)


def timed_steps(log: str) -> dict[str, float]:
    """The build log's timed steps (`- Installing Python 3.11.7 ...` … `done (15.9s)`)."""
    steps: dict[str, float] = {}
    current = ""
    for line in log.splitlines():
        fetched = _FETCHED.match(line)
        value = parse_duration(fetched.group(2)) if fetched else None
        if fetched and value is not None:
            steps[f"{fetched.group(1)} wheel (in parallel)"] = value
        start = _STEP_START.match(line)
        if start:
            current = start.group(1)
            continue
        done = _STEP_DONE.match(line)
        if done and current:
            value = parse_duration(done.group(1))
            if value is not None:
                steps[_short(current)] = value
            current = ""
    return steps


def _short(message: str) -> str:
    if message.startswith("Downloading and extracting Python"):  # one streamed step
        return "runtime download+extract"
    if message.startswith("Downloading Python"):  # before the streamed step: download, then install
        return "runtime download"
    if message.startswith("Installing Python"):  # after it: the checks and any byte-code compile
        return "runtime install"
    if message.startswith("Installing dependencies"):
        return "dependencies"
    if message.startswith("Moving installed versions"):
        return "update: pinned pass"
    return message.replace("Installing ", "").split(" ")[0] + " tool"


def run_build(builder: Builder, source: Path) -> Build:
    start = time.perf_counter()
    result: BuildResult = builder.build(source)
    total = time.perf_counter() - start
    if not result.ok or result.build is None:
        raise RuntimeError(f"build of {source} failed:\n{result.output}")
    done = _DONE.search(result.build.output)
    return Build(
        detect=result.detect.seconds,
        build=result.build.seconds,
        done=parse_duration(done.group(1)) if done else None,
        total=total,
        steps=timed_steps(result.build.output),
    )


# --- bare baselines ------------------------------------------------------------------------------


@dataclass
class Baselines:
    """The pinned pip (as a wheel) and uv, outside any timing; a clean environment."""

    work: Path
    env: dict[str, str]
    pip_wheel: Path = field(init=False)
    uv: Path = field(init=False)

    def __post_init__(self) -> None:
        wheels = self.work / "wheels"
        pip_version, uv_version = TOOL_VERSIONS["pip"], TOOL_VERSIONS["uv"]
        setup_env = self.env | {"PIP_CACHE_DIR": str(self.work / "setup-cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", wheels, f"pip=={pip_version}"],
            env=setup_env,
            check=True,
        )
        self.pip_wheel = next(wheels.glob(f"pip-{pip_version}-*.whl"))
        tools = self.work / "uv-tool"
        subprocess.run([BASE_PYTHON, "-m", "venv", tools], env=self.env, check=True)
        subprocess.run(
            [tools / "bin" / "pip", "install", "-q", f"uv=={uv_version}"],
            env=setup_env,
            check=True,
        )
        self.uv = tools / "bin" / "uv"

    def install(self, manager: str, app: Path, cache: Path, *, fresh: bool = True) -> float:
        """The app's dependencies installed by hand: into a fresh venv, or (`fresh=False`, pip)
        into the venv of the previous call, as a developer updates a venv after a change."""
        venv = self.work / "bare-venv"
        if fresh:
            shutil.rmtree(venv, ignore_errors=True)
        if manager == "pip":
            env = self.env | {"PIP_CACHE_DIR": str(cache)}
            start = time.perf_counter()
            if fresh:
                timed_run([BASE_PYTHON, "-m", "venv", "--without-pip", venv], env=env)
            timed_run(
                [venv / "bin" / "python", f"{self.pip_wheel}/pip", "install", "--no-input",
                 "--disable-pip-version-check", "--progress-bar=off", "-r", "requirements.txt"],
                env=env,
                cwd=app,
            )
            return time.perf_counter() - start
        env = self.env | {
            "UV_CACHE_DIR": str(cache),
            "UV_PROJECT_ENVIRONMENT": str(venv),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_LINK_MODE": "copy",
        }
        # The same flags as the buildpack's uv sync; uv creates the venv itself.
        flags = ["--locked", "--no-default-groups", "--compile-bytecode", "--no-progress"]
        argv: list[str | Path] = [self.uv, "sync", *flags, "--python", BASE_PYTHON]
        return timed_run(argv, env=env, cwd=app)


# --- one app: cold, warm, changed, sizes, baselines -----------------------------------------------


@dataclass
class AppResult:
    spec: AppSpec
    cold: Build  # the cold build of median time
    warm: list[Build]
    changed: Build
    bare_cold: float  # median of the bare cold baselines
    bare_changed: float  # fresh venv after the change
    bare_incremental: float | None  # pip: the same install into the venv of the cold baseline
    image_layers: dict[str, int]
    cache_layers: dict[str, int]
    bare_cache: int  # the bare baseline's download cache after its two installs
    cold_ratios: list[float] = field(default_factory=list)  # each cold build / the bare run just before it

    @property
    def cold_ratio(self) -> float:
        return statistics.median(self.cold_ratios)


def bench_app(
    spec: AppSpec, work: Path, platform_env: dict[str, str], baselines: Baselines, warm_runs: int, cold_runs: int
) -> AppResult:
    """Cold builds alternate with bare cold baselines (each from empty caches), `cold_runs` pairs;
    the warm and changed builds then reuse the last cold build's cache, as a redeploy does."""
    source = work / f"{spec.key}-app"
    shutil.copytree(spec.fixture, source)
    target = ImageTarget(distro_version="22.04", arch=ARCH)
    colds: list[Build] = []
    bares: list[float] = []
    for index in range(cold_runs):
        bare_cache = work / f"{spec.key}-bare-cache-{index}"
        bares.append(baselines.install(spec.manager, source, bare_cache))
        workspace = Workspace(work / f"{spec.key}-workspace-{index}")
        builder = Builder(ROOT, workspace, target=target, platform_env=platform_env | spec.settings)
        colds.append(run_build(builder, source))
    warm = [run_build(builder, source) for _ in range(warm_runs)]
    spec.change(source)
    changed = run_build(builder, source)
    bare_incremental = None
    if spec.manager == "pip":
        bare_incremental = baselines.install(spec.manager, source, bare_cache, fresh=False)
    bare_changed = baselines.install(spec.manager, source, bare_cache)

    image = {p.name: disk_usage(p) for p in sorted(workspace.image_layers.iterdir()) if p.is_dir()}
    cache = {
        p.name: disk_usage(p) for p in sorted(workspace.cache.iterdir()) if p.is_dir() and p.name not in image
    }
    cold = sorted(colds, key=lambda build: build.build)[len(colds) // 2]
    return AppResult(
        spec, cold, warm, changed, statistics.median(bares), bare_changed, bare_incremental, image, cache,
        disk_usage(bare_cache), [build.build / bare for build, bare in zip(colds, bares, strict=True)],
    )  # fmt: skip


# --- start-up costs: detect, python -c pass, exec.d ------------------------------------------------


def build_interpreter() -> Path:
    """The interpreter bin/build runs here (lib/run-phase.sh: the checkout's venv first); detect, sh, is
    measured against its bare start."""
    venv_python = ROOT / ".venv" / "bin" / "python3"
    return venv_python if venv_python.exists() else Path(shutil.which("python3") or BASE_PYTHON)


def startup_costs(work: Path, env: dict[str, str], runs: int) -> dict[str, float]:
    app = work / "detect-app"
    shutil.copytree(APPS / "pip-flask", app)
    (work / "platform").mkdir()
    detect_env = env | ImageTarget(distro_version="22.04", arch=ARCH).env() | {
        "CNB_BUILDPACK_DIR": str(ROOT),
        "CNB_PLATFORM_DIR": str(work / "platform"),
        "CNB_BUILD_PLAN_PATH": str(work / "plan.toml"),
    }
    python = build_interpreter()
    return {
        "detect": median_run([ROOT / "bin" / "detect"], runs, env=detect_env, cwd=app),
        "python -c pass": median_run([python, "-c", "pass"], runs, env=env),
        "python -I -S -c pass": median_run([BASE_PYTHON, "-I", "-S", "-c", "pass"], runs, env=env),
    }


def exec_d_costs(work: Path, runs: int) -> tuple[float, dict[str, float]]:
    """Median ms of `/bin/sh -c :` and of the exec.d program per fake cgroup tree."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        trees = exec_d.fake_trees(work)
        shell = statistics.median(exec_d.measure(["/bin/sh", "-c", ":"], {"PATH": "/usr/bin:/bin"}, runs, devnull))
        program = [str(exec_d.SCRIPT)]
        programs = {}
        for label, env in trees.items():
            value = re.search(r'WEB_CONCURRENCY = "(\d+)"', exec_d.output_of(env))
            shown = f"{label}, sets WEB_CONCURRENCY={value.group(1) if value else '(nothing)'}"
            programs[shown] = statistics.median(exec_d.measure(program, env, runs, devnull))
    finally:
        os.close(devnull)
    return shell, programs


# --- report ----------------------------------------------------------------------------------------

# Issue 13's targets; classic = the classic buildpack's Flask image (runtime + deps), measured
# in the issue's side-by-side run (the classic buildpack does not run here).
TARGET_COLD_RATIO = 1.3
TARGET_CHANGE_RATIO = 1.5
CLASSIC_FLASK_IMAGE_MB = 115.0


def issue_13_targets(apps: list[AppResult], warm_medians: dict[str, float]) -> None:
    by_key = {r.spec.key: r for r in apps}
    print("\n## Targets of issue 13 (cold and changed builds)\n")
    print("| target | measured | met |")
    print("| --- | --- | --- |")
    for key in ("pip", "django"):
        r = by_key.get(key)
        if r is None:
            continue
        met = verdict(r.cold_ratio <= TARGET_COLD_RATIO)
        print(f"| {key}: cold build within {TARGET_COLD_RATIO:g}x bare venv + `pip install -r` | "
              f"{seconds(r.cold.build)} vs {seconds(r.bare_cold)} = {cold_ratios(r)} | {met} |")
        if r.bare_incremental:
            change = r.changed.build / r.bare_incremental
            print(f"| {key}: one-package change within {TARGET_CHANGE_RATIO:g}x bare incremental `pip install -r` | "
                  f"{seconds(r.changed.build)} vs {seconds(r.bare_incremental)} = {change:.2f}x | "
                  f"{verdict(change <= TARGET_CHANGE_RATIO)} |")
    uv, pip = by_key.get("pip-uv"), by_key.get("pip")
    if uv is not None:  # its own bare baselines: pip, the same app, alternated with its builds
        print(f"| BP_PYTHON_INSTALLER=uv: cold pip-app build no slower than bare `pip install -r` | "
              f"{seconds(uv.cold.build)} vs {seconds(uv.bare_cold)} = {cold_ratios(uv)} | "
              f"{verdict(uv.cold_ratio <= 1.0)} |")
    if pip is not None:
        image = (pip.image_layers.get("python", 0) + pip.image_layers.get("venv", 0)) / 1e6
        print(f"| pip (Flask) image, runtime + venv, no larger than classic's {CLASSIC_FLASK_IMAGE_MB:g} MB | "
              f"{image:.1f} MB | {verdict(image <= CLASSIC_FLASK_IMAGE_MB)} |")


def cold_ratios(r: AppResult) -> str:
    """The median ratio of the cold pairs, with their range when there are several."""
    if len(r.cold_ratios) == 1:
        return f"{r.cold_ratio:.2f}x"
    return f"{r.cold_ratio:.2f}x (median of {len(r.cold_ratios)}: {min(r.cold_ratios):.2f}–{max(r.cold_ratios):.2f}x)"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "–"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def steps_text(build: Build) -> str:
    return ", ".join(f"{name} {seconds(value)}" for name, value in build.steps.items()) or "no installer ran"


def report(startup: dict[str, float], shell_ms: float, exec_d_ms: dict[str, float], apps: list[AppResult],
           warm_runs: int, cold_runs: int, startup_runs: int, exec_d_runs: int) -> None:
    python = build_interpreter()
    detect_ratio = startup["detect"] / startup["python -c pass"]
    worst_exec_d = max(exec_d_ms.values())
    warm_medians = {r.spec.key: statistics.median(b.build for b in r.warm) for r in apps}

    print("\n## Targets\n")
    print("| target | measured | met |")
    print("| --- | --- | --- |")
    detect_ok = verdict(detect_ratio <= TARGET_DETECT_RATIO)
    print(f"| detect within {TARGET_DETECT_RATIO:g}x of `python3 -c pass` | {seconds(startup['detect'])} vs "
          f"{seconds(startup['python -c pass'])} = {detect_ratio:.2f}x | {detect_ok} |")
    warm_text = ", ".join(f"{key} {seconds(value)}" for key, value in warm_medians.items())
    warm_ok = all(v < TARGET_WARM_SECONDS for v in warm_medians.values())
    print(f"| warm rebuild, nothing changed: buildpack time under {TARGET_WARM_SECONDS:g} s | {warm_text} | "
          f"{verdict(warm_ok)} |")
    print(f"| exec.d (WEB_CONCURRENCY) start-up under {TARGET_EXEC_D_MS:g} ms | {worst_exec_d:.2f} ms (slowest tree) | "
          f"{verdict(worst_exec_d < TARGET_EXEC_D_MS)} |")

    print(f"\n## Start-up costs (median of {startup_runs}; exec.d: median of {exec_d_runs})\n")
    print("| what | time | ratio |")
    print("| --- | --- | --- |")
    print(f"| `bin/detect` (pip app, passes) | {seconds(startup['detect'])} | {detect_ratio:.2f}x python -c pass |")
    print(f"| `python3 -c pass` ({python}, the interpreter bin/build runs) | "
          f"{seconds(startup['python -c pass'])} | 1.00x |")
    print(f"| `python3 -I -S -c pass` ({BASE_PYTHON}) | {seconds(startup['python -I -S -c pass'])} | "
          f"{ratio(startup['python -I -S -c pass'], startup['python -c pass'])} |")
    for label, value in exec_d_ms.items():
        print(f"| exec.d `web_concurrency`, {label} | {value:.2f} ms | {value / shell_ms:.2f}x `/bin/sh -c :` |")
    print(f"| `/bin/sh -c :` | {shell_ms:.2f} ms | 1.00x |")

    issue_13_targets(apps, warm_medians)

    print("\n## Builds\n")
    print("Buildpack time = the bin/build phase as the lifecycle measures it (interpreter start included); "
          "log = the build log's own `Done (…)`; lifecycle = detect + restore + build + export. "
          f"Cold: the build of median time of {cold_runs} (each from empty caches, after its own bare run), "
          f"against the median bare run. Warm no-change: median of {warm_runs} rebuilds. Bare = a fresh venv "
          "and the same install by hand "
          "(same cache state as the build it is compared with); for pip apps' changes, bare incremental = "
          "`pip install -r` into the bare venv of the cold run. pip-uv = the pip app with "
          "BP_PYTHON_INSTALLER=uv (bare: pip); pip-nobc = the pip app on a runtime archive without byte-code.\n")
    print("| app | build | buildpack time | log | lifecycle | timed steps | bare baseline | buildpack / bare | "
          "dependencies step / bare |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in apps:
        warm = sorted(r.warm, key=lambda b: b.build)[len(r.warm) // 2]
        incremental = r.bare_incremental is not None
        rows = [
            ("cold", r.cold, r.bare_cold),
            ("warm, nothing changed", warm, None),
            (f"warm, {r.spec.change_text}" + (" (bare: incremental)" if incremental else ""), r.changed,
             r.bare_incremental if incremental else r.bare_changed),
        ]
        for label, build, bare in rows:
            deps = build.steps.get("dependencies")
            print(f"| {r.spec.key} ({r.spec.fixture.name}) | {label} | {seconds(build.build)} | "
                  f"{seconds(build.done)} | {seconds(build.total)} | {steps_text(build)} | {seconds(bare)} | "
                  f"{ratio(build.build, bare)} | {ratio(deps, bare)} |")

    print("\n## Layer sizes (after the last build; du, hard links counted once)\n")
    print("| app | layer | exported in the image | size |")
    print("| --- | --- | --- | --- |")
    for r in apps:
        for name, size in r.image_layers.items():
            print(f"| {r.spec.key} | {name} | yes | {megabytes(size)} |")
        for name, size in r.cache_layers.items():
            print(f"| {r.spec.key} | {name} | no (cache only) | {megabytes(size)} |")

    print("\n## Notes\n")
    print("- Caches: every download cache starts empty in this run. Cold builds and the bare cold baseline "
          "download everything from pypi.org (each with its own empty cache); the warm-after-change build "
          "uses the cache layer its cold build filled, and the bare warm baseline the cache its cold run "
          "filled. Machine-wide pip configuration is off on both sides (PIP_CONFIG_FILE=/dev/null); the "
          "machine's trust settings (PIP_CERT, SSL_CERT_FILE, UV_SYSTEM_CERTS when it has a custom CA) apply to "
          "both sides.")
    print(f"- Bare baselines use the pinned versions (pip {TOOL_VERSIONS['pip']} run from its wheel, "
          f"uv {TOOL_VERSIONS['uv']}), installed beforehand and not timed; a cold build also fetches them "
          "and installs the runtime.")
    print("- The runtime is served on loopback from an archive of this interpreter packed as the production "
          "ones (no pip, standard library byte-code compiled with unchecked-hash, no tests); the download is "
          "local. The archive is extracted while it downloads (\"runtime download+extract\"); "
          "\"runtime install\" is what follows: checks, and for pip-nobc, whose archive has no byte-code, "
          "compiling the standard library.")
    caches = "; ".join(
        f"{r.spec.key}: buildpack {megabytes(r.cache_layers.get(r.spec.manager + '-cache', 0))}, "
        f"bare {megabytes(r.bare_cache)}"
        for r in apps
    )
    print(f"- Download caches at the end ({caches}). An almost empty pip cache means the index's "
          "responses are not cacheable (no validators or max-age): pip then downloads again on warm "
          "installs, on both sides alike.")
    print("- Warm rebuilds run no installer: the time is the interpreter start (imports included), the checks "
          "and the metadata writes; Django apps also run `collectstatic` at every build.")
    print("- The lifecycle column is the cost of this repository's local lifecycle (restoring and exporting "
          "layers as hard-linked copies, deleting the previous ones), not of the buildpack; a real platform "
          "restores and exports differently.")


@contextmanager
def bench_run(prefix: str, keep: bool) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh work directory (removed at the end unless kept) and the bare baselines' clean
    environment; the run's length and load average are printed last."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    start = time.monotonic()
    env = {k: os.environ[k] for k in HOST_ENV_ALLOWLIST if k in os.environ}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    try:
        yield work, env | NO_PIP_CONFIG | HOST_TRUST
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nWhole run: {seconds(time.monotonic() - start)}; load average at the end: {load}; "
              f"work directory: {work}" + ("" if keep else " (removed)"))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    names = ", ".join(APP_SPECS)
    parser.add_argument("--apps", default=",".join(APP_SPECS), help="comma-separated subset of: " + names)
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=1, help="cold build / bare baseline pairs per app")
    parser.add_argument("--startup-runs", type=int, default=30)
    parser.add_argument("--exec-d-runs", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    keys = [k.strip() for k in args.apps.split(",") if k.strip()]
    unknown = [k for k in keys if k not in APP_SPECS]
    if unknown:
        parser.error(f"unknown app(s): {', '.join(unknown)}")

    print("# Benchmarks\n")
    for line in machine():
        print(f"- {line}")
    with bench_run("buildpack-bench-", args.keep) as (work, env):
        startup = startup_costs(work, env, args.startup_runs)
        (work / "cgroups").mkdir()
        shell_ms, exec_d_ms = exec_d_costs(work / "cgroups", args.exec_d_runs)
        baselines = Baselines(work, env)
        apps = []
        for key in keys:
            spec = APP_SPECS[key]
            mirror = work / f"mirror-{key}"
            mirror.mkdir()
            with runtime_mirror(mirror, bytecode=spec.bytecode) as mirror_env:
                print(f"- benchmarking the {key} app ...", file=sys.stderr, flush=True)
                settings = mirror_env | NO_PIP_CONFIG | HOST_TRUST
                apps.append(bench_app(spec, work, settings, baselines, args.warm_runs, args.cold_runs))
        report(startup, shell_ms, exec_d_ms, apps, args.warm_runs, args.cold_runs, args.startup_runs, args.exec_d_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
