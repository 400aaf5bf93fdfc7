"""Where the builder phase's time goes on a redeploy with nothing changed.

    .venv/bin/python benchmarks/builder_phase.py [--runs 7] [--app examples/flask-pip]

The reference lifecycle's builder phase wraps `bin/build`: it reads the group, plan and layers,
starts the buildpack, then reads the layers and launch.toml it left. This builds the app three
times on the reference engine, keeps the layers dir as the restorer left it for the last one, and
then runs the builder phase again on copies of it, as the lifecycle runs it:

- as restored: the last build's record applies, and the build is replayed (redeploy/);
- without the record: the build runs in full, as it did before records;

and times, as the build user, the image's `python3 -I -S -B -c pass` (the interpreter's start
alone) and the interpreter with the imports of each path (`python_buildpack.redeploy`, then
`python_buildpack.build` and what it imports). Each build log's own `Done` figure is the
buildpack's work after its imports. Medians of `--runs`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from support import ARCH, ROOT, machine, runtime_mirror, seconds

from python_buildpack_dev.platform.build_image import ensure_artifact, host_trust_env
from python_buildpack_dev.platform.phases import ImageTarget, PhaseResult
from python_buildpack_dev.platform.tools import ReferenceTools
from python_buildpack_dev.platform.workspace import Workspace, default_root
from python_buildpack_dev.reference.builder import ReferenceBuilder, default_build_python

_DONE = re.compile(r"^## Done \((\d+)ms\)$", re.MULTILINE)
IMPORTS = "import sys; sys.path[0:0] = [{src!r}, {vendor!r}, {common!r}]; import {module}"


class Snapshotting(ReferenceBuilder):
    """Keeps a copy of the layers dir as the restorer left it (for the warm build)."""

    snapshot: Path | None = None

    def _phase(self, phase: str, args: list[str], *, as_build_user: bool = False) -> PhaseResult:
        result = super()._phase(phase, args, as_build_user=as_build_user)
        if phase == "restore" and self.snapshot is not None:
            shutil.copytree(self.ws.layers, self.snapshot, symlinks=True)
        if phase == "build":
            self.build_args = args
        return result


def timed(argv: list[str], env: dict[str, str], cwd: Path, user: int | None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False,
                          user=user, group=user, extra_groups=[] if user is not None else None)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--app", type=Path, default=ROOT / "examples" / "flask-pip")
    args = parser.parse_args()
    tools = ReferenceTools.find()
    if tools is None:
        raise SystemExit("benchmarks/builder_phase.py: no reference lifecycle in .tools/bin: run dev/setup")
    for line in machine():
        print(line)
    artifact = ensure_artifact(ROOT, default_root().parent / "artifact" / "scalingo-python", print)
    target = ImageTarget(distro_version="22.04", arch=ARCH)
    python = default_build_python(target)
    with tempfile.TemporaryDirectory(prefix="builder-phase-") as tmp, runtime_mirror(Path(tmp) / "mirror") as mirror:
        work = Path(tmp)
        os.chmod(work, 0o755)
        app = work / "app"
        shutil.copytree(args.app, app)
        builder = Snapshotting(tools, artifact, Workspace(work / "ws"), target=target,
                               platform_env=host_trust_env() | mirror, build_python=python)
        for _ in range(2):  # without a .python-version, the first redeploy is the first one recorded
            assert builder.build(app).ok
        builder.snapshot = work / "restored"
        warm = builder.build(app)
        assert warm.ok, warm.output
        user = builder.user.uid if builder.user.drops_privileges else None
        env = builder._env()
        ws = builder.ws
        bp_dir = ws.buildpacks / "scalingo_python" / "0.1.0"
        image_python = shutil.which("python3", path=env["PATH"]) or "python3"
        vendor = bp_dir / "vendor"
        cpu = os.uname().machine
        tag = next(p.name for p in sorted(vendor.iterdir()) if p.name.startswith("cp3") and p.name.endswith(cpu))
        paths = {"src": str(bp_dir / "src"), "vendor": str(vendor / tag), "common": str(vendor / "common")}
        times: dict[str, list[float]] = {}
        for _ in range(args.runs):
            for path, record in (("replayed", True), ("full", False)):
                shutil.rmtree(ws.layers)
                shutil.copytree(builder.snapshot, ws.layers, symlinks=True)
                if not record:
                    shutil.rmtree(ws.layers / "scalingo_python" / "build-record")
                    (ws.layers / "scalingo_python" / "build-record.toml").unlink()
                builder.user.own(ws.layers)
                result = builder._phase("build", builder.build_args, as_build_user=True)
                replayed = "## Nothing changed" in result.output
                if not result.ok or replayed != record:
                    raise RuntimeError(f"the {path} build did not go as expected:\n{result.output}")
                times.setdefault(f"lifecycle builder phase, {path}", []).append(result.seconds)
                match = _DONE.search(result.output)
                times.setdefault(f"  the {path} build's own work (its `Done`)", []).append(
                    int(match.group(1)) / 1000 if match else float("nan"))
            times.setdefault("  python3 start (-I -S -B -c pass)", []).append(
                timed([image_python, "-I", "-S", "-B", "-c", "pass"], env, ws.app, user)[0])
            for module in ("python_buildpack.redeploy", "python_buildpack.build"):
                code = IMPORTS.format(module=module, **paths)
                times.setdefault(f"  python3 start + `import {module}`", []).append(
                    timed([image_python, "-I", "-S", "-B", "-c", code], env, ws.app, user)[0])
    rows = list(times.items())
    print(f"\nwarm rebuild of {args.app.name}, image python3 {image_python}, medians of {args.runs}:\n")
    print("| part | median | min | max |\n| --- | --- | --- | --- |")
    for name, values in rows:
        print(f"| {name} | {seconds(statistics.median(values))} | {seconds(min(values))} | {seconds(max(values))} |")
    median = {name: statistics.median(values) for name, values in times.items()}
    start = median["  python3 start (-I -S -B -c pass)"]
    for path, module in (("replayed", "redeploy"), ("full", "build")):
        imports = median[f"  python3 start + `import python_buildpack.{module}`"] - start
        rest = (median[f"lifecycle builder phase, {path}"] - median[f"  the {path} build's own work (its `Done`)"]
                - start - imports)
        print(f"\n{path}: imports {seconds(imports)}; the rest of the phase (the lifecycle, the shell, boot.py, "
              f"vendored paths): {seconds(rest)}")


if __name__ == "__main__":
    main()
