"""Build and run images standing in for the Scalingo stacks, made on this machine.

No image can be pulled here, so the stacks' images are made from a Debian rootfs
(`debootstrap --variant=minbase`), imported into the daemon, given what a Python app needs
from the real stacks (CPython's shared libraries, bash, ca-certificates, and this machine's CA
bundle for its TLS-inspecting proxy), then the CNB contract of `builders/stack.Dockerfile`:
stack id, `io.buildpacks.base.distro.*` labels claiming the Ubuntu release of the stack,
`CNB_USER_ID`/`CNB_GROUP_ID` and user 1000. They are labelled `io.scalingo.python-buildpack.
stand-in` and differ from the real stacks in their userland (Debian 12, not Ubuntu) and in
carrying far fewer packages: docs/distribution.md says how.

Build images come in three variants, for the three ways the buildpack starts:
`supported` has the `python3` of the Ubuntu release (3.10 on 22.04, 3.12 on 24.04), which the
artifact vendors its dependencies for; `unsupported-python` has a `python3` it does not (3.8,
Ubuntu 20.04's), and `no-python` none: both bootstrap. The interpreters are local CPythons
packed as runtime archives are, installed under /usr/local.

Each image is made once and reused while its recipe (packages, Dockerfiles, inputs' digests)
is unchanged: the recipe digest and the image id are recorded in `.tools/docker/images.json`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import zstandard

from ..platform.build_image import IMAGE_PYTHONS, local_interpreters
from ..runtime_mirror.archives import make_runtime_archive
from .daemon import REPO, STATE, Docker, DockerError

NAMESPACE = "scalingo-python-dev"
STAND_IN_LABEL = "io.scalingo.python-buildpack.stand-in"
STACKS = {"scalingo-22": "22.04", "scalingo-24": "24.04"}
STACK_DOCKERFILE = REPO / "builders" / "stack.Dockerfile"
# Bump when the way images are made changes, so recorded images are remade.
RECIPE_VERSION = "2"
# What a CPython runtime needs at run time on Debian 12, and bash for Procfile processes.
RUN_PACKAGES = ("bash", "ca-certificates", "libssl3", "libffi8", "libsqlite3-0", "libbz2-1.0", "liblzma5",
                "zlib1g", "libreadline8", "libncursesw6", "libuuid1", "libgdbm6", "libexpat1", "tzdata")
# The build also needs what lib/bootstrap.sh runs (curl, zstd; tar, awk, sort and sha256sum are in
# minbase) and git for VCS requirements.
BUILD_PACKAGES = (*RUN_PACKAGES, "curl", "zstd", "xz-utils", "git")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
UNSUPPORTED_PYTHON = "3.8"  # Ubuntu 20.04's python3: the artifact vendors nothing for it


class Variant(str, Enum):
    SUPPORTED = "supported"
    UNSUPPORTED_PYTHON = "unsupported-python"
    NO_PYTHON = "no-python"


def run_image_name(stack: str) -> str:
    return f"{NAMESPACE}/run:{stack}"


def build_image_name(stack: str, variant: Variant = Variant.SUPPORTED) -> str:
    suffix = "" if variant is Variant.SUPPORTED else f"-{variant.value}"
    return f"{NAMESPACE}/build:{stack}{suffix}"


def image_python(stack: str, variant: Variant) -> str | None:
    """The `python3` major version a build image variant carries."""
    if variant is Variant.NO_PYTHON:
        return None
    return IMAGE_PYTHONS[STACKS[stack]] if variant is Variant.SUPPORTED else UNSUPPORTED_PYTHON


def _digest(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def debian_mirror() -> str:
    """The apt mirror this machine uses (debootstrap must reach it as apt does)."""
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        match = re.search(r"^URIs:\s*(\S+)", sources.read_text(encoding="utf-8"), re.MULTILINE)
        if match and "security" not in match.group(1):
            return match.group(1)
    listing = Path("/etc/apt/sources.list")
    if listing.is_file():
        match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", listing.read_text(encoding="utf-8"), re.MULTILINE)
        if match:
            return match.group(1)
    return "http://deb.debian.org/debian"


def debian_suite() -> str:
    """This machine's Debian release when it is one (its mirror surely has it), else bookworm."""
    os_release = Path("/etc/os-release")
    text = os_release.read_text(encoding="utf-8") if os_release.is_file() else ""
    if re.search(r"^ID=debian$", text, re.MULTILINE):
        match = re.search(r"^VERSION_CODENAME=(\w+)$", text, re.MULTILINE)
        if match:
            return match.group(1)
    return "bookworm"


@dataclass
class StandIns:
    """Makes (once) and names the stand-in images in one daemon."""

    docker: Docker
    log: Callable[[str], None] = print
    state: Path = STATE

    @property
    def _records(self) -> Path:
        return self.state / "images.json"

    def run_image(self, stack: str) -> str:
        name = run_image_name(stack)
        base = self._rootfs("run")
        return self._stack_image(name, base, stack, role="run", python=None)

    def build_image(self, stack: str, variant: Variant = Variant.SUPPORTED) -> str:
        name = build_image_name(stack, variant)
        base = self._rootfs("build")
        return self._stack_image(name, base, stack, role="build", python=image_python(stack, variant))

    # --- recorded images ------------------------------------------------------------------

    def _recorded(self, name: str, recipe: str) -> bool:
        records = json.loads(self._records.read_text()) if self._records.is_file() else {}
        record = records.get(name)
        return bool(record and record["recipe"] == recipe and self.docker.image_id(name) == record["id"])

    def _record(self, name: str, recipe: str) -> None:
        records = json.loads(self._records.read_text()) if self._records.is_file() else {}
        records[name] = {"recipe": recipe, "id": self.docker.image_id(name)}
        self._records.parent.mkdir(parents=True, exist_ok=True)
        self._records.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")

    def _ensure(self, name: str, recipe: str, make: Callable[[], None]) -> str:
        if not self._recorded(name, recipe):
            make()
            self._record(name, recipe)
        return name

    # --- the Debian rootfs ----------------------------------------------------------------

    def _rootfs(self, role: str) -> str:
        packages = RUN_PACKAGES if role == "run" else BUILD_PACKAGES
        suite = debian_suite()
        name = f"{NAMESPACE}/rootfs:{suite}-{role}"
        recipe = _digest(RECIPE_VERSION, suite, *packages)
        return self._ensure(name, recipe, lambda: self._debootstrap(name, suite, packages))

    def _debootstrap(self, name: str, suite: str, packages: tuple[str, ...]) -> None:
        if shutil.which("debootstrap") is None:
            raise DockerError("debootstrap is missing: dev/docker start installs it (as root, with apt)")
        mirror = debian_mirror()
        self.log(f"stand-in images: debootstrap {suite} from {mirror} for {name} (about 30 s, once) ...")
        cache = self.state / "debootstrap-cache"
        cache.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.state, prefix="rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            done = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
                 f"--cache-dir={cache.resolve()}", suite, str(rootfs), mirror],
                capture_output=True, text=True, check=False,
            )
            if done.returncode != 0:
                raise DockerError(f"debootstrap failed ({done.returncode}):\n{done.stdout[-3000:]}"
                                  f"{done.stderr[-3000:]}")
            # What no container reads: apt's lists and caches, documentation.
            for rel in ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man", "usr/share/info"):
                shutil.rmtree(rootfs / rel, ignore_errors=True)
            tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(["docker", "import", "--change", 'CMD ["/bin/bash"]', "-", name],
                                      stdin=tar.stdout, capture_output=True, text=True, env=self.docker.env(),
                                      check=False)
            assert tar.stdout is not None
            tar.stdout.close()
            if tar.wait() != 0 or imported.returncode != 0:
                raise DockerError(f"docker import of {name} failed:\n{imported.stderr}")

    # --- the stack images -----------------------------------------------------------------

    def _stack_image(self, name: str, base: str, stack: str, *, role: str, python: str | None) -> str:
        ca_bundle = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.is_file() else b""
        interpreter = local_interpreters().get(python) if python else None
        if python and interpreter is None:
            raise DockerError(f"no local CPython {python} (pyenv) to put in {name} as its python3")
        recipe = _digest(RECIPE_VERSION, self.docker.image_id(base) or base, stack, role, python or "",
                         str(interpreter or ""), ca_bundle, STACK_DOCKERFILE.read_bytes())
        return self._ensure(name, recipe, lambda: self._make_stack_image(name, base, stack, role, interpreter,
                                                                         ca_bundle, recipe))

    def _make_stack_image(self, name: str, base: str, stack: str, role: str, interpreter: Path | None,
                          ca_bundle: bytes, recipe: str) -> None:
        self.log(f"stand-in images: making {name} ...")
        with tempfile.TemporaryDirectory(prefix="stand-in-") as tmp:
            context = Path(tmp)
            lines = [f"FROM {base}", "USER root"]
            if ca_bundle:
                (context / "ca-certificates.crt").write_bytes(ca_bundle)
                lines.append(f"COPY ca-certificates.crt {HOST_CA_BUNDLE}")
            if interpreter is not None:
                _python_tar(interpreter.parent.parent, context / "python.tar", self.state / "python-archives")
                lines += ["ADD python.tar /usr/local/", "RUN ldconfig && python3 --version"]
            (context / "Dockerfile").write_text("\n".join(lines) + "\n")
            additions = f"{NAMESPACE}/staging:{recipe}"
            self.docker_build(context, context / "Dockerfile", additions, {})
        try:
            self.docker_build(
                STACK_DOCKERFILE.parent, STACK_DOCKERFILE, name,
                {"BASE": additions, "STACK_ID": stack, "DISTRO_VERSION": STACKS[stack]},
                labels={STAND_IN_LABEL: f"{role} image standing in for {stack}, made from Debian {debian_suite()}",
                        f"{STAND_IN_LABEL}.recipe": recipe},
            )
        finally:
            self.docker.run("image", "rm", additions, check=False)

    def docker_build(self, context: Path, dockerfile: Path, tag: str, args: dict[str, str],
                      labels: dict[str, str] | None = None) -> None:
        argv = ["docker", "build", "--network", "host", "--quiet", "-f", str(dockerfile), "-t", tag]
        for key, value in args.items():
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in (labels or {}).items():
            argv += ["--label", f"{key}={value}"]
        # The classic builder: Debian's docker.io has no buildx, and nothing here needs BuildKit.
        done = subprocess.run([*argv, str(context)], capture_output=True, text=True, check=False,
                              env=self.docker.env({"DOCKER_BUILDKIT": "0"}))
        if done.returncode != 0:
            raise DockerError(f"docker build of {tag} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _python_tar(prefix: Path, dest: Path, cache: Path) -> None:
    """A local interpreter as a runtime archive is made (relocatable prefix, no tests, no pip),
    as a plain tar that `ADD` unpacks."""
    probe = "import platform; print(platform.python_version())"
    version = subprocess.run([str(prefix / "bin" / "python3"), "-c", probe],
                             capture_output=True, text=True, check=True).stdout.strip()
    archive = make_runtime_archive(prefix, cache, version, "image", "any", cache_dir=cache / "cache")
    with archive.open("rb") as source, dest.open("wb") as out:
        zstandard.ZstdDecompressor().copy_stream(source, out)
