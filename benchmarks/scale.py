"""How the cost grows: the large app's builds, a curve over dependency counts, many deploys, memory.

    .venv/bin/python benchmarks/scale.py [--parts large,curve,deploys] [--cold-runs 3]
                                         [--deploys 20] [--deploy-installers pip,uv] [--managers pipenv,poetry,uv]
                                         [--curve 1,10,40,all] [--keep]

Every build runs on the reference engine (the CNB lifecycle's five phases from .tools/bin, made
by dev/setup, on this checkout packaged into the run's own directory), with the
runtime served on loopback and the packages from the real index; the apps are
benchmarks/apps/large-* (benchmarks/large_app.py made them). Parts:

- large: cold builds of the large pip app, with pip and with BP_PYTHON_INSTALLER=uv, each
  paired with its bare baselines run just before it (a fresh venv and `pip install -r`, a fresh
  venv and `uv pip install -r`, each from an empty cache); then a warm build and a one-pin
  change. The pipenv, poetry and uv variants: one cold and one warm build each. Memory: one
  more cold build per installer with the build phase's processes sampled (RSS every 50 ms).
- curve: cold builds of dependency-closed subsets of the large app's pins (1, 10, 40, all),
  each after its bare `pip install -r`: build time, bytes pip reports downloading, layer bytes.
- deploys: a cold build, then one build per one-pin change (benchmarks/apps/large-pip-bumps.txt),
  with pip and with uv; after each: every cache layer's size, the venv against a fresh install of
  the same pins by the same installer (size, and the packages that differ), the build's time.

The report is Markdown on stdout; progress goes to stderr. Re-run it after any change to the
buildpack or the lifecycle's caching: it measures the checkout it runs from (the commit is
printed with the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from suite import BASE_PYTHON, HOST_TRUST, NO_PIP_CONFIG, Baselines, bench_run, timed_steps
from support import ARCH, ROOT, disk_usage, machine, megabytes, runtime_mirror, seconds, timed_run

from python_buildpack.cnb import toml_io
from python_buildpack.package_managers.pip_update import canonical
from python_buildpack_dev.platform.build_image import ensure_artifact
from python_buildpack_dev.platform.oci import Image, ref_path
from python_buildpack_dev.platform.phases import BuildResult, ImageTarget
from python_buildpack_dev.platform.tools import ReferenceTools
from python_buildpack_dev.platform.workspace import Workspace
from python_buildpack_dev.reference.builder import IMAGE_NAME, ReferenceBuilder, default_build_python

APPS = Path(__file__).resolve().parent / "apps"
LARGE = {manager: APPS / f"large-{manager}" for manager in ("pip", "pipenv", "poetry", "uv")}
BUMPS = APPS / "large-pip-bumps.txt"
UV = {"BP_PYTHON_INSTALLER": "uv"}
PHASES = ("analyze", "detect", "restore", "build", "export")
# Issue 25's targets.
TARGET_COLD_PIP, TARGET_COLD_UV, TARGET_CHANGE, TARGET_CACHE_GROWTH, TARGET_RSS_MB = 1.1, 0.6, 0.3, 2.0, 150.0


def say(message: str) -> None:
    print(f"- {message}", file=sys.stderr, flush=True)


# --- memory of the build phase's processes ------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _status_kb(pid: int) -> tuple[int, int, str] | None:
    """(VmRSS, VmHWM) in kB and the command line of a process, None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return int(values.get("VmRSS", 0)), int(values.get("VmHWM", 0)), cmdline


def role(cmdline: str) -> str:
    """Whose process: the buildpack's own (its interpreter, its byte-code compiler) or an installer's."""
    if "lib/boot.py" in cmdline:
        return "buildpack (bin/build)"
    if "bytecode.py" in cmdline:
        return "buildpack byte-code compiler (per process)"
    for tool in ("pipenv", "poetry", "uv", "pip"):
        if re.search(rf"(^|/)({tool})(\s|$)|/{tool}(/__main__\.py)?\s|bin/{tool}", cmdline):
            return f"installer: {tool}"
    return f"other: {Path(cmdline.split(' ')[0]).name or '?'}"


@dataclass
class Memory:
    """Peak RSS (MB) per role over the build phase, and the buildpack's own in each step."""

    peaks: dict[str, float] = field(default_factory=dict)
    in_step: dict[str, float] = field(default_factory=dict)  # the buildpack's own (bin/build) RSS by step


class SampledBuilder(ReferenceBuilder):
    """The reference builder, sampling the build phase's process tree while it runs."""

    memory: Memory
    _step = ""

    def build(self, app_source: Path) -> BuildResult:
        self.memory = Memory()
        self._sampler: threading.Thread | None = None
        return super().build(app_source)

    def on_output(self, phase: str, line: str, proc: subprocess.Popen[str]) -> None:
        if phase == "build" and self._sampler is None:
            self._sampler = threading.Thread(target=self._sample, args=(proc,), daemon=True)
            self._sampler.start()
        if "Downloading and extracting Python" in line or "Installing Python" in line:
            self._step = "runtime extraction"
        elif "Installing dependencies with" in line:
            self._step = "dependency install"
        elif re.match(r"^\s+done \(", line) or line.startswith("## "):
            self._step = ""

    def _sample(self, proc: subprocess.Popen[str]) -> None:
        while proc.poll() is None:
            tree, todo = _children(), [proc.pid]
            while todo:
                pid = todo.pop()
                todo += tree.get(pid, [])
                found = _status_kb(pid)
                if found is None:
                    continue
                rss, hwm, cmdline = found
                who = role(cmdline)
                self.memory.peaks[who] = max(self.memory.peaks.get(who, 0.0), hwm / 1024)
                if who.startswith("buildpack (") and self._step:
                    step = self._step
                    self.memory.in_step[step] = max(self.memory.in_step.get(step, 0.0), rss / 1024)
            time.sleep(0.05)


# --- builds and baselines ------------------------------------------------------------------------


@dataclass
class Build:
    phases: dict[str, float]
    steps: dict[str, float]
    log: str
    layers: dict[str, int]  # layer name → bytes, right after the build
    cache_layers: list[str]  # the layers marked cache = true
    volume_cache: int  # the platform's cache volume (the lifecycle's tarballs)
    memory: Memory | None = None

    @property
    def buildpack(self) -> float:
        return self.phases.get("build", 0.0)

    @property
    def total(self) -> float:
        return sum(self.phases.values())

    def pruned(self) -> list[str]:
        return [line.strip()[2:] for line in self.log.splitlines() if "Pruned cached" in line]

    def venv_change(self) -> str:
        """How the venv was made: updated in place, rebuilt (and why), or reused."""
        lines = [line.strip()[2:] for line in self.log.splitlines()
                 if re.search(r"- (Updating|Discarding|Using) cached dependencies|Rebuilding from scratch|rebuilding$",
                              line)]  # fmt: skip
        return "; ".join(lines)


@dataclass
class Engine:
    tools: ReferenceTools
    artifact: Path
    build_python: Path | None
    platform_env: dict[str, str]
    target: ImageTarget = field(default_factory=lambda: ImageTarget(distro_version="22.04", arch=ARCH))

    def build(self, workspace: Workspace, app: Path, settings: dict[str, str] | None = None) -> Build:
        env = self.platform_env | (settings or {})
        builder = SampledBuilder(self.tools, self.artifact, workspace, target=self.target, platform_env=env,
                                 build_python=self.build_python)  # fmt: skip
        result = builder.build(app)
        log = "\n".join(phase.output for phase in result.phases)
        if not result.ok or result.build is None:
            raise RuntimeError(f"build of {app} failed:\n{log}")
        layers_dir = workspace.buildpack_layers
        cache_layers = []
        for toml in sorted(layers_dir.glob("*.toml")):
            types = toml_io.load(toml).get("types", {})
            if types.get("cache") and (layers_dir / toml.stem).is_dir():
                cache_layers.append(toml.stem)
        sizes = {p.name: disk_usage(p) for p in sorted(layers_dir.iterdir()) if p.is_dir()}
        return Build({p.phase: p.seconds for p in result.phases}, timed_steps(result.build.output), log, sizes,
                     cache_layers, disk_usage(workspace.cache), builder.memory)  # fmt: skip


@dataclass
class Bare:
    """Bare installs by hand: a fresh venv, then `pip install -r` or `uv pip install -r`."""

    baselines: Baselines
    work: Path

    def install(self, installer: str, app: Path, cache: Path) -> tuple[float, Path]:
        venv = self.work / "bare-venv"
        if installer == "pip":
            return self.baselines.install("pip", app, cache), venv
        shutil.rmtree(venv, ignore_errors=True)
        env = self.baselines.env | {"UV_CACHE_DIR": str(cache), "UV_LINK_MODE": "copy", "UV_PYTHON_DOWNLOADS": "never"}
        start = time.perf_counter()
        timed_run([BASE_PYTHON, "-m", "venv", "--without-pip", venv], env=env)
        timed_run([self.baselines.uv, "pip", "install", "--python", venv / "bin" / "python", "--compile-bytecode",
                   "--no-progress", "-r", "requirements.txt"], env=env, cwd=app)  # fmt: skip
        return time.perf_counter() - start, venv


def installed(venv: Path) -> dict[str, str]:
    from python_buildpack.package_managers.pip_update import installed as read

    return read(venv)


def file_bytes(root: Path) -> int:
    """The bytes of the regular files under `root` (what a layer's tar holds)."""
    return sum(entry.stat(follow_symlinks=False).st_size for entry in root.rglob("*")
               if entry.is_file() and not entry.is_symlink())  # fmt: skip


def image_venv(ws: Workspace, seen: dict[str, tuple[dict[str, str], int]]) -> tuple[dict[str, str], int]:
    """The distributions (name → version) and file bytes of the exported image's venv: the `venv`
    layer and the `site-*` layers a large one is split into, read from the image's layer blobs
    (each blob once: `seen`, by digest; a reused layer is the same blob)."""
    image = Image.load(ref_path(ws.layout, IMAGE_NAME))
    metadata = json.loads(image.labels["io.buildpacks.lifecycle.metadata"])
    ours = {layer["sha"] for bp in metadata.get("buildpacks", []) for name, layer in bp.get("layers", {}).items()
            if name == "venv" or name.startswith("site-")}  # fmt: skip
    versions: dict[str, str] = {}
    total = 0
    for diff_id, blob in zip(image.config["rootfs"]["diff_ids"], image.layer_paths(), strict=True):
        if diff_id not in ours:
            continue
        if diff_id not in seen:
            found, size = {}, 0
            with tarfile.open(blob) as tar:
                for member in tar:
                    size += member.size if member.isreg() else 0
                    if member.name.endswith(".dist-info/METADATA"):
                        text = tar.extractfile(member).read().decode(errors="replace")  # type: ignore[union-attr]
                        fields = dict(line.split(": ", 1) for line in text.splitlines()[:10] if ": " in line)
                        found[canonical(fields.get("Name", ""))] = fields.get("Version", "")
            seen[diff_id] = (found, size)
        versions.update(seen[diff_id][0])
        total += seen[diff_id][1]
    return versions, total


def downloaded_bytes(log: str) -> int:
    """What pip says it downloads (`Downloading numpy-2.4.6-...whl (16.9 MB)`), in bytes."""
    units = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}
    found = re.findall(r"Downloading \S+ \((\d+(?:\.\d+)?) (B|kB|KB|MB|GB)\)", log)
    return int(sum(float(value) * units[unit] for value, unit in found))


def size_text(size: float) -> str:
    return f"{size / 1e3:.0f} kB" if abs(size) < 1e6 else megabytes(int(size))


def pins(app: Path) -> list[str]:
    return [line.strip() for line in (app / "requirements.txt").read_text().splitlines() if "==" in line]


def bump(app: Path, pin: str) -> None:
    """Replaces the pin of `pin`'s package in the app's requirements.txt."""
    name = pin.split("==")[0].lower()
    lines = [pin if line.split("==")[0].lower() == name else line for line in pins(app)]
    (app / "requirements.txt").write_text("\n".join(lines) + "\n")


def copy_app(source: Path, dest: Path, requirements: list[str] | None = None) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest)
    if requirements is not None:
        (dest / "requirements.txt").write_text("\n".join(requirements) + "\n")
    return dest


def closed_subsets(sizes: tuple[int | None, ...]) -> list[list[str]]:
    """Dependency-closed subsets of the large app's pins: prefixes of an order that puts every
    package after its dependencies (read from the uv variant's lock)."""
    lock = toml_io.loads((LARGE["uv"] / "uv.lock").read_text())
    wanted = {pin.split("==")[0].lower(): pin for pin in pins(LARGE["pip"])}
    deps = {p["name"]: [d["name"] for d in p.get("dependencies", []) if d["name"] in wanted]
            for p in lock["package"] if p["name"] in wanted}  # fmt: skip
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in sorted(deps.get(name, [])):
            visit(dep)
        order.append(name)

    for name in sorted(wanted, key=lambda n: (len(deps.get(n, [])), n)):
        visit(name)
    return [[wanted[name] for name in order[: size or len(order)]] for size in sizes]


# --- the parts ----------------------------------------------------------------------------------


@dataclass
class Pair:
    build: Build
    bare: float

    @property
    def ratio(self) -> float:
        return self.build.buildpack / self.bare


def part_large(engine: Engine, bare: Bare, work: Path, cold_runs: int, managers: list[str]) -> None:
    app = copy_app(LARGE["pip"], work / "large-pip")
    pairs: dict[str, list[Pair]] = {"pip": [], "uv": []}
    bare_runs: dict[str, list[float]] = {"pip": [], "uv": []}
    workspaces: dict[str, Workspace] = {}
    for index in range(cold_runs):
        for installer, settings in (("pip", {}), ("uv", UV)):
            say(f"large app, cold pair {index + 1}/{cold_runs}, {installer}: bare pip, bare uv, build")
            pip_time, _ = bare.install("pip", app, work / "bare-pip-cache")
            uv_time, _ = bare.install("uv", app, work / "bare-uv-cache")
            discard(work / "bare-pip-cache", work / "bare-uv-cache")
            bare_runs["pip"].append(pip_time)
            bare_runs["uv"].append(uv_time)
            if installer in workspaces:
                discard(workspaces[installer].root)
            workspaces[installer] = Workspace(work / f"ws-large-{installer}-{index}")
            pairs[installer].append(Pair(engine.build(workspaces[installer], app, settings), pip_time))
    later: dict[str, dict[str, Build]] = {}
    for installer, settings in (("pip", {}), ("uv", UV)):
        say(f"large app, {installer}: warm, then one pin changed")
        changed_app = copy_app(app, work / f"large-{installer}-changed")
        warm = engine.build(workspaces[installer], app, settings)
        bump(changed_app, BUMPS.read_text().split()[0])
        later[installer] = {"warm": warm, "changed": engine.build(workspaces[installer], changed_app, settings)}
        discard(workspaces[installer].root)
    memory = {}
    for installer, settings in (("pip", {}), ("uv", UV)):
        say(f"large app, {installer}: one more cold build, memory sampled")
        ws = Workspace(work / f"ws-large-memory-{installer}")
        memory[installer] = engine.build(ws, app, settings)
        discard(ws.root)
    pip_med = statistics.median(bare_runs["pip"])
    uv_med = statistics.median(bare_runs["uv"])
    print(f"\n## Large app ({len(pins(app))} pins), reference engine\n")
    print(f"Bare baselines (median of {len(bare_runs['pip'])}, each from an empty cache into a fresh venv): "
          f"`pip install -r` {seconds(pip_med)} (runs: {', '.join(seconds(v) for v in bare_runs['pip'])}), "
          f"`uv pip install -r` {seconds(uv_med)} (runs: {', '.join(seconds(v) for v in bare_runs['uv'])}).\n")
    print("| target | measured (median of the pairs, range) | met |")
    print("| --- | --- | --- |")
    for installer, target in (("pip", TARGET_COLD_PIP), ("uv", TARGET_COLD_UV)):
        ratios = [p.ratio for p in pairs[installer]]
        median = statistics.median(ratios)
        name = "pip" if installer == "pip" else "BP_PYTHON_INSTALLER=uv"
        print(f"| {name}: cold build (buildpack time) ≤ {target:g}x bare `pip install -r` | "
              f"{seconds(statistics.median(p.build.buildpack for p in pairs[installer]))} vs "
              f"{seconds(statistics.median(p.bare for p in pairs[installer]))} = {median:.2f}x "
              f"({min(ratios):.2f}–{max(ratios):.2f}x) | {verdict(median <= target)} |")
        cold = statistics.median(p.build.buildpack for p in pairs[installer])
        changed = later[installer]["changed"].buildpack
        met = verdict(changed / cold <= TARGET_CHANGE)
        print(f"| {name}: one-pin change ≤ {TARGET_CHANGE:g}x its cold build (buildpack time) | "
              f"{seconds(changed)} vs {seconds(cold)} = {changed / cold:.2f}x | {met} |")
        whole = later[installer]["changed"].total / statistics.median(p.build.total for p in pairs[installer])
        print(f"| {name}: one-pin change, all five phases, vs cold's five phases | "
              f"{seconds(later[installer]['changed'].total)} = {whole:.2f}x | (reported) |")
    print()
    print("| build | analyze | detect | restore | build (buildpack) | export | five phases | timed steps |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for installer in ("pip", "uv"):
        name = "pip" if installer == "pip" else "pip app, uv installer"
        median_pair = sorted(pairs[installer], key=lambda p: p.build.buildpack)[len(pairs[installer]) // 2]
        rows += [(f"{name}: cold (median pair)", median_pair.build), (f"{name}: warm", later[installer]["warm"]),
                 (f"{name}: one pin changed ({BUMPS.read_text().split()[0]})", later[installer]["changed"])]
    for label, build in rows:
        cells = " | ".join(seconds(build.phases.get(phase)) for phase in PHASES)
        steps = ", ".join(f"{k} {seconds(v)}" for k, v in build.steps.items())
        print(f"| {label} | {cells} | {seconds(build.total)} | {steps} |")
    print("\nLayer sizes after the cold builds (du, hard links once):\n")
    print("| build | " + " | ".join(("python", "venv", "pip", "pip-cache", "uv", "uv-cache")) + " | cache volume |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, build in [("pip", pairs["pip"][-1].build), ("uv installer", pairs["uv"][-1].build)]:
        cells = " | ".join(megabytes(build.layers[n]) if n in build.layers else "–"
                           for n in ("python", "venv", "pip", "pip-cache", "uv", "uv-cache"))  # fmt: skip
        extra = ", ".join(f"{n} {megabytes(s)}" for n, s in build.layers.items()
                          if n.endswith("-cache") and n not in ("pip-cache", "uv-cache"))  # fmt: skip
        print(f"| {label}{' (' + extra + ')' if extra else ''} | {cells} | {megabytes(build.volume_cache)} |")
    print("\n### Peak memory (RSS) during the cold build of the large app\n")
    print("| process | pip | uv installer |")
    print("| --- | --- | --- |")
    roles = sorted({r for b in memory.values() if b.memory for r in b.memory.peaks})
    for who in roles:
        cells = " | ".join(f"{b.memory.peaks[who]:.0f} MB" if b.memory and who in b.memory.peaks else "–"
                           for b in memory.values())  # fmt: skip
        print(f"| {who} | {cells} |")
    for step in ("runtime extraction", "dependency install"):
        cells = " | ".join(f"{b.memory.in_step[step]:.0f} MB" if b.memory and step in b.memory.in_step else "–"
                           for b in memory.values())  # fmt: skip
        print(f"| buildpack (bin/build) during the {step} | {cells} |")
    own = [v for b in memory.values() if b.memory for k, v in b.memory.peaks.items() if k.startswith("buildpack")]
    print(f"\nTarget: the buildpack's own processes ≤ {TARGET_RSS_MB:g} MB: largest {max(own, default=0):.0f} MB, "
          f"{verdict(max(own, default=0) <= TARGET_RSS_MB)} (installers reported, not counted).", flush=True)
    lock_variants(engine, work, managers)


def lock_variants(engine: Engine, work: Path, managers: list[str]) -> None:
    """The pipenv, poetry and uv variants of the large app: one cold and one warm build each."""
    print("\n### The lock-based variants (same pins)\n")
    print("| build | analyze | detect | restore | build (buildpack) | export | five phases | layers after it |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for manager in managers:
        say(f"large app, {manager}: cold and warm")
        ws = Workspace(work / f"ws-large-{manager}")
        for label in ("cold", "warm"):
            try:
                build = engine.build(ws, LARGE[manager])
            except RuntimeError as error:
                reason = next((line.strip() for line in str(error).splitlines() if "Error:" in line), "failed")
                print(f"| {manager}: {label} | failed: {reason} |||||||", flush=True)
                break
            cells = " | ".join(seconds(build.phases.get(phase)) for phase in PHASES)
            sizes = ", ".join(f"{n} {megabytes(v)}" for n, v in build.layers.items() if v > 1e6)
            print(f"| {manager}: {label} | {cells} | {seconds(build.total)} | {sizes} |", flush=True)
        discard(ws.root)


def part_curve(engine: Engine, bare: Bare, work: Path, sizes: tuple[int | None, ...]) -> None:
    rows = []
    for subset in closed_subsets(sizes):
        n = len(subset)
        say(f"curve: {n} pins")
        app = copy_app(LARGE["pip"], work / f"curve-{n}", subset)
        bare_time, _ = bare.install("pip", app, work / "curve-bare-cache")
        ws = Workspace(work / f"ws-curve-{n}")
        build = engine.build(ws, app)
        discard(ws.root, work / "curve-bare-cache")
        deps = build.steps.get("dependencies", 0.0)
        rows.append((n, build, bare_time, deps, downloaded_bytes(build.log)))
    print("\n## Dependency-count curve (pip, cold builds, reference engine)\n")
    print("Subsets of the large app's pins closed under their dependencies (each package after what it "
          "requires); downloaded = the sizes pip reports in its `Downloading` lines (index pages not counted).\n")
    print("| packages | buildpack time | dependencies step | five phases | bare `pip install -r` | downloaded | "
          "venv layer | all layers | marginal build time per package | marginal download per package |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    previous = None
    for n, build, bare_time, deps, down in rows:
        layers = sum(build.layers.values())
        marginal = "–"
        marginal_bytes = "–"
        if previous is not None:
            pn, pbuild, _, _, pdown = previous
            marginal = seconds((build.buildpack - pbuild.buildpack) / (n - pn))
            marginal_bytes = size_text((down - pdown) / (n - pn))
        print(f"| {n} | {seconds(build.buildpack)} | {seconds(deps)} | {seconds(build.total)} | {seconds(bare_time)} | "
              f"{size_text(down)} | {megabytes(build.layers.get('venv', 0))} | {megabytes(layers)} | {marginal} | "
              f"{marginal_bytes} |")
        previous = (n, build, bare_time, deps, down)


def part_deploys(engine: Engine, bare: Bare, work: Path, count: int, installers: list[str]) -> None:
    steps = BUMPS.read_text().split()[:count]
    for installer in installers:
        settings = UV if installer == "uv" else {}
        app = copy_app(LARGE["pip"], work / f"deploys-{installer}")
        ws = Workspace(work / f"ws-deploys-{installer}")
        bare_cache = work / f"deploys-bare-cache-{installer}"
        print(f"\n## Many deploys: {installer}{' (BP_PYTHON_INSTALLER=uv)' if installer == 'uv' else ''}\n")
        print("| deploy | change | buildpack time | five phases | cache layers | cache volume | venv | fresh venv "
              "| venv / fresh | venv differs from fresh | pruned | venv |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        first_caches: dict[str, int] = {}
        last_caches: dict[str, int] = {}
        seen: dict[str, tuple[dict[str, str], int]] = {}
        for index, change in enumerate(["(cold)", *steps]):
            if index:
                bump(app, change)
            say(f"deploys, {installer}: {index}/{len(steps)} {change}")
            build = engine.build(ws, app, settings)
            _, fresh = bare.install(installer, app, bare_cache)
            ours, venv_size = image_venv(ws, seen)
            theirs = installed(fresh)
            theirs.setdefault("pip", ours.get("pip", ""))  # the buildpack's venv also gets the pinned pip
            differs = sorted({f"{k} {ours.get(k, '–')}≠{theirs.get(k, '–')}" for k in ours.keys() | theirs.keys()
                              if ours.get(k) != theirs.get(k)})  # fmt: skip
            caches = {name: build.layers.get(name, 0) for name in build.cache_layers}  # venv, runtime, tools too
            first_caches = first_caches or caches
            last_caches = caches
            fresh_size = file_bytes(fresh)
            cache_text = ", ".join(f"{n} {megabytes(s)}" for n, s in caches.items()) or "–"
            print(f"| {index} | {change} | {seconds(build.buildpack)} | {seconds(build.total)} | {cache_text} | "
                  f"{megabytes(build.volume_cache)} | {megabytes(venv_size)} | {megabytes(fresh_size)} | "
                  f"{venv_size / fresh_size:.2f}x | {', '.join(differs) or 'none'} | "
                  f"{'; '.join(build.pruned()) or '–'} | {build.venv_change()} |", flush=True)
        discard(ws.root, bare_cache)
        for name, size in last_caches.items():
            growth = size / first_caches[name] if first_caches.get(name) else float("nan")
            print(f"\nTarget: {name} after {len(steps)} deploys ≤ {TARGET_CACHE_GROWTH:g}x its size after the first "
                  f"build: {megabytes(size)} vs {megabytes(first_caches.get(name, 0))} = {growth:.2f}x, "
                  f"{verdict(growth <= TARGET_CACHE_GROWTH)}.")


def discard(*paths: Path) -> None:
    """Workspaces and caches once measured: the disk holds a few large apps, not dozens."""
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


@contextmanager
def engine_for(work: Path) -> Iterator[Engine]:
    tools = ReferenceTools.find()
    if tools is None:
        raise SystemExit("benchmarks/scale.py: no reference lifecycle in .tools/bin: run ./dev/setup")
    # Packaged into this run's directory: the shared one is remade by any other checkout's build.
    artifact = ensure_artifact(ROOT, work / "artifact" / "scalingo-python", say)
    target = ImageTarget(distro_version="22.04", arch=ARCH)
    mirror = work / "mirror"
    mirror.mkdir()
    with runtime_mirror(mirror) as mirror_env:
        env = mirror_env | NO_PIP_CONFIG | HOST_TRUST
        yield Engine(tools, artifact, default_build_python(target), env, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="large,curve,deploys")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold build / bare baseline pairs per installer")
    parser.add_argument("--deploys", type=int, default=20)
    parser.add_argument("--managers", default="pipenv,poetry,uv", help="lock-based variants built in the large part")
    parser.add_argument("--deploy-installers", default="pip,uv", help="installers of the deploys part, in order")
    parser.add_argument("--curve", default="1,10,40,all", help="dependency counts of the curve (all: every pin)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    installers = [i.strip() for i in args.deploy_installers.split(",") if i.strip()]
    curve = tuple(None if size == "all" else int(size) for size in args.curve.split(","))
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    managers = [m.strip() for m in args.managers.split(",") if m.strip()]

    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    print("# Scaling benchmark\n")
    for line in [*machine(), f"buildpack commit: {commit}"]:
        print(f"- {line}")
    with bench_run("buildpack-scale-", args.keep) as (work, env), engine_for(work) as engine:
        bare = Bare(Baselines(work, env), work)
        if "large" in parts:
            part_large(engine, bare, work, args.cold_runs, managers)
        if "curve" in parts:
            part_curve(engine, bare, work, curve)
        if "deploys" in parts:
            part_deploys(engine, bare, work, args.deploys, installers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
