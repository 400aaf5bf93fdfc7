"""Builders for `pack build`: a stand-in build and run image, the reference lifecycle and the buildpack.

`pack builder create` downloads the lifecycle from GitHub unless the builder's configuration
names an archive, and GitHub is out of reach here: the archive is assembled from the lifecycle
and launcher dev/setup built (`.tools/bin`), laid out as a lifecycle release is (`lifecycle.toml`
with the APIs it supports, `lifecycle/` with the binary, its phase names and the launcher).

A builder is remade when its inputs change (the images, the lifecycle, the packaged
buildpack's files); its recipe and image id are recorded beside the stand-ins'.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.descriptor import BuildpackDescriptor

from ..platform.tools import ReferenceTools
from .daemon import STATE, Docker, DockerError
from .stand_ins import HOST_CA_BUNDLE, NAMESPACE, RECIPE_VERSION, StandIns, Variant, _digest

PHASES = ("analyzer", "builder", "creator", "detector", "exporter", "extender", "rebaser", "restorer")
SBOM_FORMATS = ["application/vnd.cyclonedx+json", "application/spdx+json", "application/syft+json"]


def builder_name(stack: str, variant: Variant = Variant.SUPPORTED) -> str:
    suffix = "" if variant is Variant.SUPPORTED else f"-{variant.value}"
    return f"{NAMESPACE}/builder:{stack}{suffix}"


def _apis(tools: ReferenceTools) -> dict[str, list[str]]:
    """The Platform and Buildpack APIs the lifecycle supports: the binary reports only its version,
    so they are read from the source it was built from (`api/apis.go`), as its release packager does."""
    source = _lifecycle_source(tools.version())
    text = (source / "api" / "apis.go").read_text(encoding="utf-8")
    found = {}
    for name in ("Platform", "Buildpack"):
        match = re.search(rf"{name} = newApisMustParse\(\[\]string\{{([^}}]*)\}}", text)
        if not match:
            raise DockerError(f"cannot read the lifecycle's supported {name} APIs from {source}/api/apis.go")
        found[name.lower()] = re.findall(r'"([0-9.]+)"', match.group(1))
    return found


def _lifecycle_source(version: str) -> Path:
    """The lifecycle's module source, which dev/setup's `go build` left in the module cache."""
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(gomodcache) / "github.com" / "buildpacks" / f"lifecycle@v{version}"
    if not path.is_dir():
        raise DockerError(f"the lifecycle's source is not in the Go module cache ({path}): run dev/setup")
    return path


def lifecycle_archive(tools: ReferenceTools, dest_dir: Path) -> Path:
    """A release-shaped lifecycle archive made from `.tools/bin`, once per build of the binaries."""
    version = tools.version()
    stats = [(path.stat().st_size, path.stat().st_mtime_ns) for path in (tools.lifecycle, tools.launcher)]
    archive = dest_dir / f"lifecycle-v{version}+{_digest(version, repr(stats))[:12]}.tgz"
    if archive.is_file():
        return archive
    apis = _apis(tools)
    descriptor = {
        "apis": {"buildpack": {"deprecated": [], "supported": apis["buildpack"]},
                 "platform": {"deprecated": [], "supported": apis["platform"]}},
        "api": {"platform": apis["platform"][0], "buildpack": apis["buildpack"][0]},
        "lifecycle": {"version": version, "sbom-formats": SBOM_FORMATS},
    }
    dest_dir.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    with partial.open("wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=1) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, data: bytes | None = None, *, mode: int = 0o755, link: str | None = None) -> None:
            info = tarfile.TarInfo(name)
            info.mtime = 315532801
            info.mode = mode
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
            elif data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

        add("lifecycle.toml", tomli_w.dumps(descriptor).encode(), mode=0o644)
        add("lifecycle")
        add("lifecycle/lifecycle", tools.lifecycle.read_bytes())
        add("lifecycle/launcher", tools.launcher.read_bytes())
        for phase in PHASES:
            add(f"lifecycle/{phase}", link="lifecycle")
    partial.rename(archive)
    return archive


def buildpack_digest(artifact: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in artifact.rglob("*") if p.is_file() and not p.is_symlink()):
        digest.update(str(path.relative_to(artifact)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _identity(buildpack_dir: Path) -> tuple[str, str]:
    data = toml_io.load(buildpack_dir / "buildpack.toml")["buildpack"]
    return str(data["id"]), str(data["version"])


def builder_config(
    artifact: Path, build_image: str, run_image: str, lifecycle: Path, description: str,
    later: Sequence[Path] = (),
) -> dict[str, Any]:
    """builder.toml: the buildpack (then `later` ones) in one group, the images and the lifecycle archive."""
    descriptor = BuildpackDescriptor.model_validate(toml_io.load(artifact / "buildpack.toml"))
    bp = descriptor.buildpack
    others = [(_identity(path), path) for path in later]
    return {
        "description": description,
        "buildpacks": [{"id": bp.id, "version": bp.version, "uri": str(artifact)},
                       *({"id": id_, "version": version, "uri": str(path)} for (id_, version), path in others)],
        "order": [{"group": [{"id": bp.id, "version": bp.version},
                             *({"id": id_, "version": version} for (id_, version), _ in others)]}],
        "build": {"image": build_image},
        "run": {"images": [{"image": run_image}]},
        "lifecycle": {"uri": str(lifecycle)},
    }


@dataclass
class Builders:
    """Makes (once per input) the stand-in builders in one daemon."""

    docker: Docker
    pack: Path
    tools: ReferenceTools
    log: Callable[[str], None] = print
    state: Path = STATE

    def __post_init__(self) -> None:
        self.stand_ins = StandIns(self.docker, self.log, self.state)

    def ensure(self, stack: str, artifact: Path, variant: Variant = Variant.SUPPORTED,
               later: Sequence[Path] = (), name: str | None = None) -> str:
        """The builder of `stack`'s stand-ins with the buildpack `artifact`, then the `later`
        buildpacks in its group (`name`: for another buildpack than this one)."""
        build_image = self.stand_ins.build_image(stack, variant)
        run_image = self.stand_ins.run_image(stack)
        lifecycle = lifecycle_archive(self.tools, self.state / "lifecycle")
        inputs = [buildpack_digest(path) for path in (artifact, *later)]
        name = name or builder_name(stack, variant) + (f"-group-{_digest(*inputs[1:])[:8]}" if later else "")
        recipe = _digest(self.docker.image_id(build_image) or "", self.docker.image_id(run_image) or "",
                         lifecycle.name, *inputs)
        description = (f"Stand-in builder for {stack} ({variant.value} build image): Debian-made images, "
                       f"the reference lifecycle built here, the buildpack from {artifact}")
        config = builder_config(artifact, build_image, run_image, lifecycle, description, later)
        return self.stand_ins._ensure(name, recipe, lambda: self._create(name, config))

    def lifecycle_image(self) -> str:
        """The lifecycle image pack runs the privileged phases in when the builder is not trusted
        (or buildpacks are added to it): a release's image is unpullable here, so it is made from
        the same archive, as the lifecycle's own image tool lays it out (binaries in /cnb, labels)."""
        archive = lifecycle_archive(self.tools, self.state / "lifecycle")
        name = f"{NAMESPACE}/lifecycle:{self.tools.version()}"
        recipe = _digest(RECIPE_VERSION, archive.name)
        return self.stand_ins._ensure(name, recipe, lambda: self._lifecycle_image(name, archive))

    def _lifecycle_image(self, name: str, archive: Path) -> None:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("lifecycle.toml")
            assert member is not None
            descriptor = toml_io.loads(member.read().decode())
        apis = {"buildpack": descriptor["apis"]["buildpack"], "platform": descriptor["apis"]["platform"]}
        legacy = {"lifecycle": {"version": descriptor["lifecycle"]["version"]},
                  "api": {"buildpack": apis["buildpack"]["supported"][0],
                          "platform": apis["platform"]["supported"][0]}}
        with tempfile.TemporaryDirectory(prefix="lifecycle-image-") as tmp:
            context = Path(tmp)
            shutil.copy(archive, context / "lifecycle.tgz")
            # What the distroless base of the real image gives: users root and nobody, /tmp, CAs.
            (context / "rootfs" / "etc" / "ssl" / "certs").mkdir(parents=True)
            (context / "rootfs" / "etc" / "passwd").write_text(
                "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")
            (context / "rootfs" / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
            if HOST_CA_BUNDLE.is_file():
                shutil.copy(HOST_CA_BUNDLE, context / "rootfs" / "etc" / "ssl" / "certs" / HOST_CA_BUNDLE.name)
            for directory in ("tmp", "root"):
                (context / "rootfs" / directory).mkdir()
            (context / "rootfs" / "tmp").chmod(0o1777)
            (context / "Dockerfile").write_text(
                "FROM scratch\n"
                "COPY rootfs /\n"
                "ADD lifecycle.tgz /cnb/\n"
                f"LABEL io.buildpacks.lifecycle.version={json.dumps(descriptor['lifecycle']['version'])} "
                f"io.buildpacks.lifecycle.apis={json.dumps(json.dumps(apis))} "
                f"io.buildpacks.builder.metadata={json.dumps(json.dumps(legacy))}\n"
                "WORKDIR /layers\n"
            )
            self.stand_ins.docker_build(context, context / "Dockerfile", name, {})

    def _create(self, name: str, config: dict[str, Any]) -> None:
        self.log(f"pack builder create {name} ...")
        with tempfile.TemporaryDirectory(prefix="builder-") as tmp:
            path = Path(tmp) / "builder.toml"
            path.write_text(tomli_w.dumps(config))
            done = subprocess.run(
                [str(self.pack), "builder", "create", name, "--config", str(path), "--pull-policy", "never"],
                capture_output=True, text=True, check=False, env=pack_env(self.docker, self.state),
            )
        if done.returncode != 0:
            raise DockerError(f"pack builder create {name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def pack_env(docker: Docker, state: Path = STATE) -> dict[str, str]:
    """pack's environment: the tier's daemon, and its config kept out of ~/.pack."""
    home = state / "pack-home"
    home.mkdir(parents=True, exist_ok=True)
    return docker.env({"PACK_HOME": str(home)})
