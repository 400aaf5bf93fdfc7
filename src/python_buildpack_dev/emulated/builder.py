"""detect → restore → build → export, as the CNB lifecycle runs them for one buildpack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.descriptor import BuildpackDescriptor
from python_buildpack.cnb.models import BuildPlan, BuildToml, LaunchToml, LayerToml, LayerTypes

from ..platform.phases import BuildResult, ImageTarget, PhaseResult, run_phase
from ..platform.workspace import LAYERS_SUBDIR, Workspace, copy_file, link_tree, normalise_mtimes, remove

# What the lifecycle passes of its own environment to detect and build (lifecycle
# env.BuildEnvIncludelist plus the path variables it prepends layer dirs to). Nothing else:
# CA bundles, TMPDIR, LANG... reach a buildpack only as platform env.
HOST_ENV_ALLOWLIST = (
    "CNB_STACK_ID",
    "HOSTNAME",
    "HOME",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "PATH",
    "LD_LIBRARY_PATH",
    "LIBRARY_PATH",
    "CPATH",
    "PKG_CONFIG_PATH",
)

# The variables the lifecycle prepends layer (and platform) directories to.
PATH_VARIABLES = ("PATH", "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH", "PKG_CONFIG_PATH")

class LifecycleError(Exception):
    pass


class Builder:
    def __init__(
        self,
        buildpack_dir: Path,
        workspace: Workspace,
        *,
        target: ImageTarget | None = None,
        platform_env: Mapping[str, str] | None = None,
        host_env: Mapping[str, str] | None = None,
        echo: bool = False,
    ) -> None:
        self.buildpack_dir = buildpack_dir.resolve()
        self.ws = workspace
        self.target = target or ImageTarget()
        self.platform_env = dict(platform_env or {})
        source = os.environ if host_env is None else host_env
        self.host_env = {k: source[k] for k in HOST_ENV_ALLOWLIST if k in source}
        self.echo = echo

    # --- phases -----------------------------------------------------------------------

    def build(self, app_source: Path) -> BuildResult:
        self._prepare_app(app_source)
        self._write_platform_env()
        detect = self._detect()
        result = BuildResult(detect=detect)
        if not detect.ok:
            return result
        self._restore()
        result.build = self._build()
        if result.build.ok:
            result.problems = self._export()
        return result

    def _base_env(self) -> dict[str, str]:
        env = dict(self.host_env)
        for name, value in self.platform_env.items():  # clear-env = false: user env is in the process env
            # as the lifecycle does, path variables are prepended to, others replaced
            env[name] = f"{value}{os.pathsep}{env[name]}" if name in PATH_VARIABLES and env.get(name) else value
        env.update(self.target.env())
        env["CNB_BUILDPACK_DIR"] = str(self.buildpack_dir)
        env["CNB_PLATFORM_DIR"] = str(self.ws.platform)
        return env

    def _run(self, phase: str, env: dict[str, str]) -> PhaseResult:
        return run_phase(phase, [str(self.buildpack_dir / "bin" / phase)], self.ws.app, env, self.on_output)

    def on_output(self, phase: str, line: str, proc: subprocess.Popen[str]) -> None:
        """Called for each line a phase prints (tests override it to act mid-build)."""
        if self.echo:
            sys.stdout.write(line)
            sys.stdout.flush()

    def _detect(self) -> PhaseResult:
        mismatch = _target_mismatch(self.buildpack_dir, self.target)
        if mismatch:  # the lifecycle skips such a buildpack; alone in its group, detect fails
            return PhaseResult("detect", 100, f"[lifecycle] {mismatch}\n", 0.0)
        with tempfile.TemporaryDirectory(prefix="cnb-detect-") as tmp:
            plan_path = Path(tmp) / "plan.toml"
            plan_path.touch()  # the lifecycle creates it empty; the buildpack writes into it
            env = self._base_env() | {"CNB_BUILD_PLAN_PATH": str(plan_path)}
            result = self._run("detect", env)
            if result.exit_code != 0:
                return result
            problem = _check_build_plan(plan_path)
            if problem:
                return PhaseResult("detect", 1, result.output + f"\n[lifecycle] {problem}\n", result.seconds)
            self._plan_requires = _plan_requires(plan_path)
            return result

    def _build(self) -> PhaseResult:
        self.ws.buildpack_layers.mkdir(parents=True, exist_ok=True)
        plan_path = self.ws.root / "buildpack-plan.toml"
        toml_io.dump({"entries": [{"name": name} for name in self._plan_requires]}, plan_path)
        env = self._base_env() | {
            "CNB_LAYERS_DIR": str(self.ws.buildpack_layers),
            "CNB_BP_PLAN_PATH": str(plan_path),
        }
        return self._run("build", env)

    # --- app, platform, restore, export -----------------------------------------------

    def _prepare_app(self, app_source: Path) -> None:
        """A fresh copy of the source, as a platform uploads it for each build."""
        remove(self.ws.app)
        self.ws.root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(app_source, self.ws.app, symlinks=True)

    def _write_platform_env(self) -> None:
        env_dir = self.ws.platform / "env"
        remove(self.ws.platform)
        env_dir.mkdir(parents=True)
        for name, value in self.platform_env.items():
            (env_dir / name).write_text(value, encoding="utf-8")

    def _restore(self) -> None:
        """The reference restorer's rules (Platform API 0.13), on the stores of the last export:

        - launch layers: metadata from the previous image, unless build=true and cache=false, or
          cache=true and the cache does not hold the layer;
        - cache layers that are not launch layers: metadata from the cache;
        - contents: cache=true layers whose metadata came back, copied from the cache (copies,
          so that a failed build cannot change the cache through a shared file);
        - SBOMs of restored cache layers and of the previous image's launch layers.
        Restored `<layer>.toml` files hold only `[metadata]`.
        """
        remove(self.ws.layers)
        self.ws.buildpack_layers.mkdir(parents=True)
        cached = _layer_tomls(self.ws.cache)
        launched = _layer_tomls(self.ws.image_layers)
        in_cache = {name for name, layer in cached.items() if layer.types and layer.types.cache}
        restored: dict[str, LayerToml] = {}
        for name, layer in launched.items():
            types = layer.types or LayerTypes()
            if (types.build and not types.cache) or (types.cache and name not in in_cache):
                continue
            restored[name] = layer
        for name in in_cache:
            types = cached[name].types or LayerTypes()
            if not types.launch:
                restored[name] = cached[name]
        for name, layer in sorted(restored.items()):
            # The lifecycle keeps metadata as JSON in image labels: integers come back as floats.
            metadata = json.loads(json.dumps(layer.metadata), parse_int=float)
            toml_io.dump({"metadata": metadata}, self.ws.buildpack_layers / f"{name}.toml")
            if name in in_cache and (self.ws.cache / name).is_dir():
                shutil.copytree(self.ws.cache / name, self.ws.buildpack_layers / name, symlinks=True)
        for store, sbom_root in ((self.ws.cache, self.ws.cache / "sbom"),
                                 (self.ws.image, self.ws.image / "sbom" / "launch" / LAYERS_SUBDIR)):
            for sbom in sorted(sbom_root.glob("*/sbom.*")) if sbom_root.is_dir() else []:
                name, ext = sbom.parent.name, sbom.name[len("sbom."):]
                if name in restored and (store == self.ws.image or name in cached):
                    copy_file(sbom, self.ws.buildpack_layers / f"{name}.sbom.{ext}")

    def _export_sboms(self, kept: dict[str, LayerTypes], image: Path) -> list[str]:
        """Launch layers' SBOMs go to the image's sbom/launch/<buildpack>/<layer>/ directory."""
        sboms = sorted(self.ws.buildpack_layers.glob("*.sbom.*"))
        if not sboms:
            return []
        descriptor = BuildpackDescriptor.model_validate(toml_io.load(self.buildpack_dir / "buildpack.toml"))
        declared = set(descriptor.buildpack.sbom_formats)
        problems = []
        for path in sboms:
            name, _, ext = path.name.partition(".sbom.")
            if SBOM_MEDIA_TYPES.get(ext) not in declared:
                problems.append(f"[lifecycle] {path.name}: format {ext!r} is not declared in sbom-formats")
                continue
            if name in kept and kept[name].launch:
                target = image / "sbom" / "launch" / LAYERS_SUBDIR / name / f"sbom.{ext}"
                target.parent.mkdir(parents=True, exist_ok=True)
                copy_file(path, target)
        return problems

    def _export(self) -> list[str]:
        """Checks what the build wrote, then stores the image and the cache."""
        layers_dir = self.ws.buildpack_layers
        problems: list[str] = []
        kept: dict[str, LayerTypes] = {}
        for toml_path in sorted(layers_dir.glob("*.toml")):
            if toml_path.name in ("launch.toml", "build.toml", "store.toml"):
                continue
            name = toml_path.stem
            try:
                layer = decode_layer_toml(toml_path)
            except (ValidationError, toml_io.TOMLDecodeError, ValueError) as error:
                problems.append(f"[lifecycle] invalid {toml_path.name}: {error}")
                continue
            if layer.types is None or not (layer.types.launch or layer.types.cache or layer.types.build):
                # A layer left without types is ignored: not exported, not cached.
                continue
            kept[name] = layer.types
        for name in ("launch.toml", "build.toml"):
            path = layers_dir / name
            if path.is_file():
                model = LaunchToml if name == "launch.toml" else BuildToml
                try:
                    model.model_validate(toml_io.load(path))
                except (ValidationError, toml_io.TOMLDecodeError) as error:
                    problems.append(f"[lifecycle] invalid {name}: {error}")
        if problems:
            return problems

        for name, types in kept.items():
            if (layers_dir / name).is_dir() and (types.launch or types.cache):
                normalise_mtimes(layers_dir / name)
        normalise_mtimes(self.ws.app)

        # Image: launch layers (a launch layer kept without contents reuses the previous image's).
        new_image = self.ws.root / "image.new"
        remove(new_image)
        (new_image / "layers").mkdir(parents=True)
        for name, types in kept.items():
            if not types.launch:
                continue
            src = layers_dir / name
            if not src.is_dir():
                src = self.ws.image_layers / name
                if not src.is_dir():
                    problems.append(f"[lifecycle] launch layer {name} has no contents to export")
                    continue
            link_tree(src, new_image / "layers" / name)
            copy_file(layers_dir / f"{name}.toml", new_image / "layers" / f"{name}.toml")
        problems += self._export_sboms(kept, new_image)
        link_tree(self.ws.app, new_image / "workspace")
        if (layers_dir / "launch.toml").is_file():
            copy_file(layers_dir / "launch.toml", new_image / "launch.toml")

        new_cache = self.ws.root / "cache.new"
        remove(new_cache)
        new_cache.mkdir(parents=True)
        for name, types in kept.items():
            if types.cache and (layers_dir / name).is_dir():
                link_tree(layers_dir / name, new_cache / name)
                copy_file(layers_dir / f"{name}.toml", new_cache / f"{name}.toml")
                for sbom in layers_dir.glob(f"{name}.sbom.*"):
                    target = new_cache / "sbom" / name / f"sbom.{sbom.name.partition('.sbom.')[2]}"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    copy_file(sbom, target)
        if problems:
            remove(new_image)
            remove(new_cache)
            return problems
        for new, current in ((new_image, self.ws.image), (new_cache, self.ws.cache)):
            remove(current)
            new.rename(current)
        return []


SBOM_MEDIA_TYPES = {
    "cdx.json": "application/vnd.cyclonedx+json",
    "spdx.json": "application/spdx+json",
    "syft.json": "application/vnd.syft+json",
}


def _layer_tomls(store: Path) -> dict[str, LayerToml]:
    """`<layer>.toml` files of an image or cache store; a damaged one is left out (not restored)."""
    found = {}
    for toml_path in sorted(store.glob("*.toml")) if store.is_dir() else []:
        try:
            found[toml_path.stem] = LayerToml.model_validate(toml_io.load(toml_path))
        except (OSError, ValueError):  # TOML and validation errors are ValueErrors
            continue
    return found


def decode_layer_toml(path: Path) -> LayerToml:
    """As the lifecycle decodes what a buildpack wrote: flags outside `[types]` are an error,
    and `[types]` values must be booleans."""
    data = toml_io.load(path)
    if any(flag in data for flag in ("launch", "build", "cache")):
        raise ValueError(f"the launch, cache and build flags should be in the types table of {path}")
    types = data.get("types", {})
    for flag in ("launch", "build", "cache"):
        if flag in types and not isinstance(types[flag], bool):
            kind = {str: "string", int: "integer", float: "float"}.get(type(types[flag]), type(types[flag]).__name__)
            raise ValueError(f'toml: key "types.{flag}": incompatible types: TOML value has type {kind}; '
                             "destination has type boolean")
    return LayerToml.model_validate(data)


def _target_mismatch(buildpack_dir: Path, target: ImageTarget) -> str:
    """Why the lifecycle would not run this buildpack on `target` ("" when a [[targets]] matches)."""
    descriptor = BuildpackDescriptor.model_validate(toml_io.load(buildpack_dir / "buildpack.toml"))
    targets = descriptor.targets
    if not targets:
        return ""
    for candidate in targets:
        if candidate.os not in ("", "linux") or candidate.arch not in ("", target.arch):
            continue
        distros = candidate.distros
        if not distros or any(d.name == target.distro_name and d.version == target.distro_version for d in distros):
            return ""
    return (f"unable to satisfy target os/arch constraints; run image: linux/{target.arch} "
            f"{target.distro_name} {target.distro_version}")


def _check_build_plan(path: Path) -> str:
    """The group check the lifecycle makes: every require provided, every provide required."""
    try:
        plan = BuildPlan.model_validate(toml_io.load(path))
    except FileNotFoundError:
        return "detect passed but wrote no build plan"
    except (ValidationError, toml_io.TOMLDecodeError) as error:
        return f"invalid build plan: {error}"
    alternatives = [plan, *plan.or_]
    for alt in alternatives:
        provided = {p.name for p in alt.provides}
        required = {r.name for r in alt.requires}
        if provided == required or (required <= provided and not provided - required):
            return ""
    return "no build plan alternative is satisfied by this buildpack alone"


def _plan_requires(path: Path) -> list[str]:
    plan = BuildPlan.model_validate(toml_io.load(path))
    return [r.name for r in plan.requires]
