"""What users wait for: the whole build, all five lifecycle phases, on the reference engine and in
containers, against its floor (and optionally a peer buildpack).

    benchmarks/pipeline [--engines reference,registry,pack] [--apps flask,django] [--runs 3]
                        [--peer DIR --peer-env NAME=VALUE ...] [--json FILE]

Engines: `reference`, the real lifecycle's five phases with images in an OCI layout directory;
`registry`, the same phases with the run image and the app image in a registry on 127.0.0.1
(Debian's docker-registry), as a CI platform runs them; `pack`, `pack build` on the Docker
daemon. In layout mode the analyzer and the exporter decompress every layer of the previous
image to learn its diff ID, so their time grows with the image; from a registry they read the
image's config and reuse layers by digest.

For each engine and app, each subject (this buildpack; the floor: a no-op buildpack that only
writes launch.toml, benchmarks/floor-buildpack; a peer buildpack directory when given) goes
through a platform's redeploys in a fresh workspace: cold (empty cache, no previous image),
warm (nothing changed), code (a comment added to the app's first Python file: the common
redeploy, code changed and dependencies not) and changed (one package added to
requirements.txt). The subjects'
runs are interleaved, so that a slow minute of the machine falls on all of them; the tables
give medians and the ratio to the floor (and to the peer).

Per build: the wall time of each phase (`analyze`, `detect`, `restore`, `build`, `export`; on
the pack engine also `pack`, its set-up before the first phase) and, on the reference
engines, each layer's bytes and files as the restorer left them and as the exporter found them
(`added`: tarred and hashed; `reused`: taken from the previous image without reading it). On
the pack engine, the layers' names and the exported image's bytes per layer.

Every app has a `.python-version` naming the mirrored interpreter, so that every subject
installs the same Python from the same loopback mirror. Timings are of this machine, shared or
not: read the ratios.

The peer of RESULTS.md is Heroku's Python CNB at its v6.5.6 tag (the search tool's `fetch` of
heroku/buildpacks-python), built here with `cargo build --release --ignore-rust-version` from
crates.io. For measurement only, its runtime download takes the part of the archive's URL before
the file name from HEROKU_PYTHON_RUNTIME_BASE_URL when that is set (the process environment,
then the platform's env dir), which `--peer-env HEROKU_PYTHON_RUNTIME_BASE_URL={mirror}` points
at the loopback mirror. `--peer` is a directory holding its buildpack.toml and bin/build (the
release binary), with bin/detect a link to it (the binary dispatches on its name). Apps that use
uv cannot be compared with it here: it downloads uv from its release host.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from support import ARCH, PYTHON_VERSION, ROOT, machine, runtime_mirror, seconds

from python_buildpack_dev.pack.builders import Builders
from python_buildpack_dev.pack.commands import mirror_env
from python_buildpack_dev.pack.daemon import Docker, find
from python_buildpack_dev.pack.engine import PackBuild, app_image_name
from python_buildpack_dev.platform.build_image import ensure_artifact, host_trust_env
from python_buildpack_dev.platform.phases import BuildResult, ImageTarget, PhaseResult
from python_buildpack_dev.platform.registry import Registry, local_registry, read_image
from python_buildpack_dev.platform.tools import ReferenceTools
from python_buildpack_dev.platform.workspace import Workspace, default_root
from python_buildpack_dev.reference.builder import ReferenceBuilder, default_build_python

FLOOR = Path(__file__).resolve().parent / "floor-buildpack"
APPS = {"flask": ROOT / "examples" / "flask-pip", "django": ROOT / "tests" / "fixtures" / "apps" / "django-gunicorn"}
ADDED_PACKAGE = "six==1.17.0"
SCENARIOS = ("cold", "warm", "code", "changed")
PHASES = ("pack", "analyze", "detect", "restore", "build", "export")
_LAYER_LINE = re.compile(r"(Adding|Reusing) layer '([^']+)'")
_RESTORED_LINE = re.compile(r'Restoring data for "([^"]+)" from cache')


@dataclass
class LayerStat:
    bytes: int
    files: int


@dataclass
class Measured:
    phases: dict[str, float]
    restored: dict[str, LayerStat] = field(default_factory=dict)  # layer -> contents after restore
    exported: dict[str, str] = field(default_factory=dict)  # layer -> "added" | "reused"
    built: dict[str, LayerStat] = field(default_factory=dict)  # layer -> contents the exporter saw
    output: str = field(default="", repr=False)  # the build's log (--logs), not in the figures
    image: dict[str, int] = field(default_factory=dict)  # buildpack layer -> its blob's bytes (gzip)

    @property
    def wall(self) -> float:
        return sum(seconds for phase, seconds in self.phases.items() if phase != "pack") + self.phases.get("pack", 0)


def layer_stats(layers: Path) -> dict[str, LayerStat]:
    """Bytes and files of each layer directory under every buildpack's layers dir, by layer name."""
    stats: dict[str, LayerStat] = {}
    for buildpack in sorted(p for p in layers.iterdir() if p.is_dir()) if layers.is_dir() else []:
        for layer in sorted(p for p in buildpack.iterdir() if p.is_dir()):
            size = files = 0
            for dirpath, dirnames, filenames in os.walk(layer):
                files += len(filenames) + len(dirnames)
                for name in filenames:
                    size += os.lstat(os.path.join(dirpath, name)).st_size
            stats[layer.name] = LayerStat(size, files)
    return stats


def exported_layers(output: str) -> dict[str, str]:
    """The exporter's verdict on each buildpack layer: tarred and hashed, or reused as it was."""
    return {name.split(":", 1)[1]: "added" if verb == "Adding" else "reused"
            for verb, name in _LAYER_LINE.findall(output) if not name.startswith("buildpacksio/")}


def layout_layer_bytes(layout: Path) -> dict[str, int]:
    """Bytes of each buildpack layer's blob (gzip, what a registry stores and a pull fetches) in
    the app image of an OCI layout directory: the image the reference engine exported last."""
    images = [p for p in layout.rglob("index.json") if "app" in p.parent.parts]
    if not images:
        return {}
    blobs = images[0].parent / "blobs" / "sha256"

    def blob(digest: str) -> Any:
        return json.loads((blobs / digest.split(":", 1)[1]).read_text())

    manifest = blob(json.loads(images[0].read_text())["manifests"][0]["digest"])
    return buildpack_layer_bytes(manifest, blob(manifest["config"]["digest"]))


def buildpack_layer_bytes(manifest: dict[str, Any], config: dict[str, Any]) -> dict[str, int]:
    """Each buildpack layer's blob bytes, by layer name, from an image's manifest and config."""
    metadata = json.loads(config["config"]["Labels"]["io.buildpacks.lifecycle.metadata"])
    names = {layer["sha"]: name for bp in metadata.get("buildpacks", [])
             for name, layer in bp.get("layers", {}).items()}
    sizes = {}
    for diff_id, layer in zip(config["rootfs"]["diff_ids"], manifest["layers"], strict=True):
        if diff_id in names:
            sizes[names[diff_id]] = int(layer["size"])
    return sizes


class ObservedBuilder(ReferenceBuilder):
    """The reference engine, with the layers dir measured right after the restorer and the builder
    (outside the phases' own times)."""

    snapshots: dict[str, dict[str, LayerStat]]

    def _phase(self, phase: str, args: list[str], *, as_build_user: bool = False) -> PhaseResult:
        result = super()._phase(phase, args, as_build_user=as_build_user)
        if phase in ("restore", "build"):
            self.snapshots[phase] = layer_stats(self.ws.layers)
        return result


# --- subjects: a buildpack on an engine ---------------------------------------------------------


@dataclass
class Subject:
    name: str
    build: Callable[[Path], Measured]


def measured(result: BuildResult) -> BuildResult:
    if not result.ok:
        raise RuntimeError(f"build failed:\n{result.output[-6000:]}")
    return result


def reference_subject(name: str, tools: ReferenceTools, buildpack: Path, workdir: Path,
                      env: dict[str, str], registry: Registry | None = None) -> Subject:
    target = ImageTarget(distro_version="22.04", arch=ARCH)
    workspace = Workspace(workdir / name)

    def build(app: Path) -> Measured:
        builder = ObservedBuilder(tools, buildpack, workspace, target=target, platform_env=env,
                                  build_python=default_build_python(target), registry=registry)
        builder.snapshots = {}
        result = measured(builder.build(app))
        if registry is None:
            image = layout_layer_bytes(workspace.layout)
        else:
            image = buildpack_layer_bytes(*read_image(registry, builder.app_repository))
        return Measured({p.phase: p.seconds for p in result.phases},
                        restored=builder.snapshots.get("restore", {}),
                        exported=exported_layers(result.output), built=builder.snapshots.get("build", {}),
                        output=result.output, image=image)

    return Subject(name, build)


def pack_subject(name: str, docker: Docker, tools: ReferenceTools, builder: str, env: dict[str, str],
                 volumes: dict[Path, str], image_key: Path) -> Subject:
    assert tools.pack is not None
    pack = PackBuild(docker, tools.pack, builder, app_image_name(image_key), platform_env=env, volumes=volumes)

    def build(app: Path) -> Measured:
        result = measured(pack.build(app))
        restored = {layer.split(":", 1)[1]: LayerStat(0, 0) for layer in _RESTORED_LINE.findall(result.output)}
        return Measured({p.phase: p.seconds for p in result.phases}, restored=restored,
                        exported=exported_layers(result.output), output=result.output)

    subject = Subject(name, build)
    subject.pack = pack  # type: ignore[attr-defined]
    return subject


# --- the runs --------------------------------------------------------------------------------------


def prepared_app(source: Path, directory: Path) -> Path:
    app = directory / source.name
    shutil.copytree(source, app)
    (app / ".python-version").write_text(PYTHON_VERSION + "\n")
    return app


def redeploys(subject: Subject, source: Path, work: Path) -> dict[str, Measured]:
    app = prepared_app(source, work)
    results = {"cold": subject.build(app), "warm": subject.build(app)}
    with min(app.rglob("*.py")).open("a", encoding="utf-8") as f:
        f.write("# redeployed\n")
    results["code"] = subject.build(app)
    with (app / "requirements.txt").open("a", encoding="utf-8") as f:
        f.write(ADDED_PACKAGE + "\n")
    results["changed"] = subject.build(app)
    return results


def image_layer_bytes(docker: Docker, image: str) -> dict[str, int]:
    """Bytes (uncompressed tar) of each buildpack layer of an image in the daemon."""
    inspected = docker.inspect("image", image)
    if inspected is None:
        return {}
    metadata = json.loads(inspected["Config"]["Labels"]["io.buildpacks.lifecycle.metadata"])
    names = {layer["sha"]: f"{bp['key']}:{layer_name}" for bp in metadata.get("buildpacks", [])
             for layer_name, layer in bp.get("layers", {}).items()}
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "image.tar"
        docker.run("save", "-o", str(saved), image)
        with tarfile.open(saved) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
            sizes = {}
            for diff_id, path in zip(config["rootfs"]["diff_ids"], manifest[0]["Layers"], strict=True):
                if diff_id in names:
                    sizes[names[diff_id]] = tar.getmember(path).size
    return sizes


@contextmanager
def engine_subjects(engine: str, work: Path, mirror: dict[str, str], peer: Path | None, peer_env: dict[str, str],
                    variants: list[tuple[str, str]]) -> Iterator[tuple[list[Subject], Callable[[], None]]]:
    tools = ReferenceTools.find()
    if tools is None:
        raise SystemExit("benchmarks/pipeline: no reference lifecycle in .tools/bin: run dev/setup")
    artifact = ensure_artifact(ROOT, default_root().parent / "artifact" / "scalingo-python", lambda m: print(m))
    env = host_trust_env() | mirror
    if engine in ("reference", "registry"):
        with ExitStack() as stack:
            registry = stack.enter_context(local_registry()) if engine == "registry" else None
            subjects = [reference_subject("scalingo/python", tools, artifact, work, env, registry),
                        reference_subject("floor", tools, FLOOR, work, env, registry)]
            for name, value in variants:  # ours again, with one more platform setting
                subjects.append(reference_subject(f"scalingo/python {name}={value}", tools, artifact, work,
                                                  env | {name: value}, registry))
            if peer is not None:
                subjects.append(reference_subject("peer", tools, peer, work, env | peer_env, registry))
            yield subjects, lambda: None
        return
    docker = find()
    if isinstance(docker, str) or tools.pack is None:
        raise SystemExit(f"benchmarks/pipeline: no pack engine here: {docker}")
    builders = Builders(docker, tools.pack, tools, log=print)
    pack_env, volumes = mirror_env(env)
    ours = builders.ensure("scalingo-22", artifact)
    floor = builders.ensure("scalingo-22", FLOOR, name="scalingo-python-dev/builder:scalingo-22-floor")
    subjects = [pack_subject("scalingo/python", docker, tools, ours, pack_env, volumes, work / "ours"),
                pack_subject("floor", docker, tools, floor, pack_env, volumes, work / "floor")]

    def clean() -> None:
        for subject in subjects:
            subject.pack.remove()  # type: ignore[attr-defined]

    try:
        yield subjects, clean
    finally:
        clean()


def run(args: argparse.Namespace) -> dict[str, object]:
    report: dict[str, object] = {"machine": machine(), "rows": []}
    rows: list[dict[str, object]] = report["rows"]  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        os.chmod(work, 0o755)
        mirror = stack.enter_context(runtime_mirror(work / "mirror"))
        peer_env = {k: v.replace("{mirror}", mirror["BP_PYTHON_RUNTIME_BASE_URL"]) for k, v in args.peer_env}
        for engine in args.engines:
            for app_name in args.apps:
                per_subject: dict[str, list[dict[str, Measured]]] = {}
                layers: dict[str, dict[str, int]] = {}
                for index in range(args.runs):
                    run_dir = work / f"{engine}-{app_name}-{index}"
                    run_dir.mkdir()
                    subjects_of = engine_subjects(engine, run_dir, mirror, args.peer, peer_env, args.variant)
                    with subjects_of as (subjects, clean):
                        for subject in subjects:
                            print(f"[pipeline] {engine} {app_name} run {index + 1}/{args.runs}: {subject.name}",
                                  flush=True)
                            (run_dir / subject.name.replace("/", "_")).mkdir()
                            result = redeploys(subject, APPS[app_name], run_dir / subject.name.replace("/", "_"))
                            per_subject.setdefault(subject.name, []).append(result)
                            if args.logs:
                                args.logs.mkdir(parents=True, exist_ok=True)
                                prefix = f"{engine}-{app_name}-{subject.name.replace('/', '_')}"
                                for scenario, build in result.items():
                                    (args.logs / f"{prefix}-{scenario}-{index}.log").write_text(build.output)
                            if engine == "pack" and index == 0:
                                layers[subject.name] = image_layer_bytes(subject.pack.docker,  # type: ignore[attr-defined]
                                                                         subject.pack.image)  # type: ignore[attr-defined]
                        clean()
                    shutil.rmtree(run_dir, ignore_errors=True)
                rows.append(summarise(engine, app_name, per_subject, layers))
                print_row(rows[-1])
    return report


def summarise(engine: str, app: str, per_subject: dict[str, list[dict[str, Measured]]],
              layers: dict[str, dict[str, int]]) -> dict[str, object]:
    summary: dict[str, object] = {"engine": engine, "app": app, "image_layers": layers, "scenarios": {}}
    scenarios: dict[str, object] = summary["scenarios"]  # type: ignore[assignment]
    for scenario in SCENARIOS:
        entry: dict[str, object] = {}
        for subject, runs in per_subject.items():
            builds = [r[scenario] for r in runs]
            walls = [b.wall for b in builds]
            median_build = sorted(builds, key=lambda b: b.wall)[len(builds) // 2]
            entry[subject] = {
                "wall": statistics.median(walls), "walls": walls,
                "phases": {p: statistics.median(b.phases.get(p, 0.0) for b in builds) for p in PHASES},
                "restored": {k: asdict(v) for k, v in median_build.restored.items()},
                "exported": median_build.exported,
                "built": {k: asdict(v) for k, v in median_build.built.items()},
                "image": median_build.image,
            }
        scenarios[scenario] = entry
    return summary


def print_row(row: dict[str, object]) -> None:
    scenarios: dict[str, dict[str, dict[str, object]]] = row["scenarios"]  # type: ignore[assignment]
    print(f"\n## {row['engine']} engine, {row['app']}\n")
    subjects = list(next(iter(scenarios.values())))
    header = ["scenario", "subject", "wall", *PHASES, "÷ floor", *(["÷ peer"] if "peer" in subjects else [])]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for scenario, entry in scenarios.items():
        for subject in subjects:
            data = entry[subject]
            wall = float(data["wall"])  # type: ignore[arg-type]
            phases: dict[str, float] = data["phases"]  # type: ignore[assignment]
            cells = [scenario, subject, seconds(wall), *(seconds(phases[p]) if phases[p] else "–" for p in PHASES),
                     f"{wall / float(entry['floor']['wall']):.2f}x"]  # type: ignore[arg-type]
            if "peer" in subjects:
                cells.append(f"{wall / float(entry['peer']['wall']):.2f}x")  # type: ignore[arg-type]
            print("| " + " | ".join(cells) + " |")
    print("\nLayers of the median build: as the restorer left them, and what the exporter did (added: tarred)")
    for scenario, entry in scenarios.items():
        for subject in subjects:
            data = entry[subject]
            restored: dict[str, dict[str, int]] = data["restored"]  # type: ignore[assignment]
            built: dict[str, dict[str, int]] = data["built"]  # type: ignore[assignment]
            exported: dict[str, str] = data["exported"]  # type: ignore[assignment]
            parts = []
            for layer in sorted(set(restored) | set(exported)):
                verdict = exported.get(layer, "not exported")
                added = f" {fmt(built[layer])}" if verdict == "added" and layer in built else ""
                parts.append(f"{layer}: restored {fmt(restored.get(layer))}, {verdict}{added}")
            print(f"- {scenario}, {subject}: " + ("; ".join(parts) or "no layer"))
    print("\nImage after each scenario (buildpack layers' blobs, gzip): the sum, then per layer")
    for scenario, entry in scenarios.items():
        blobs: dict[str, dict[str, int]] = {subject: entry[subject]["image"] for subject in subjects}  # type: ignore[misc]
        for subject, sizes in blobs.items():
            if sizes:
                peer = sum(blobs.get("peer", {}).values())
                ratio = f" ({sum(sizes.values()) / peer:.2f}x the peer's)" if peer and subject != "peer" else ""
                detail = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in sorted(sizes.items()) if v > 50_000)
                print(f"- {scenario}, {subject}: {sum(sizes.values()) / 1e6:.2f} MB{ratio}: {detail}")
    image_layers: dict[str, dict[str, int]] = row["image_layers"]  # type: ignore[assignment]
    for subject, sizes in image_layers.items():
        print(f"- image layers, {subject}: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))


def fmt(stat: dict[str, int] | None) -> str:
    if stat is None:
        return "nothing"
    return f"{stat['bytes'] / 1e6:.1f} MB in {stat['files']} files" if stat["files"] else "(data)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="reference", type=lambda s: s.split(","))
    parser.add_argument("--apps", default="flask,django", type=lambda s: s.split(","))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer", type=Path, help="another buildpack's directory, measured the same way")
    parser.add_argument("--peer-env", action="append", default=[], type=lambda s: tuple(s.split("=", 1)),
                        help="platform env of the peer's builds ({mirror} is the runtime mirror's URL)")
    parser.add_argument("--variant", action="append", default=[], type=lambda s: tuple(s.split("=", 1)),
                        metavar="NAME=VALUE", help="also measure ours with this platform setting (reference engine)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--logs", type=Path, help="write every build's log into this directory")
    args = parser.parse_args()
    for line in machine():
        print(line)
    report = run(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
