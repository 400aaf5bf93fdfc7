"""What a platform's build image and build user are, laid out on this machine for the reference engine.

- The build user: the lifecycle's `detector` and `builder` refuse to run as root, so when we are
  root they run as uid/gid 1000 (the platform convention, `CNB_USER_ID`/`CNB_GROUP_ID`), and the
  app, layers, cache and image directories belong to that user. The buildpack stays root's:
  read-only to the build, as on a builder image.
- The build image's `python3`: Ubuntu 22.04 ships 3.10, 24.04 ships 3.12, 20.04 ships 3.8 (too
  old for the buildpack: it bootstraps its own). We use a local interpreter of that version
  when there is one, so the packaged buildpack starts exactly as on the stack.
- The packaged buildpack: `python -m python_buildpack_dev.package`'s artifact, remade when the
  checkout's shipped files change.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BUILD_UID = BUILD_GID = 1000
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
# The `python3` of each Ubuntu build image.
IMAGE_PYTHONS = {"20.04": "3.8", "22.04": "3.10", "24.04": "3.12"}


@dataclass(frozen=True)
class BuildUser:
    uid: int
    gid: int

    @property
    def drops_privileges(self) -> bool:
        return self.uid != os.geteuid()

    def own(self, *paths: Path) -> None:
        """Gives whole trees to the build user (a platform's volumes are the build user's)."""
        if not self.drops_privileges:
            return
        for path in paths:
            for dirpath, dirnames, filenames in os.walk(path):
                for name in [*dirnames, *filenames]:
                    os.lchown(os.path.join(dirpath, name), self.uid, self.gid)
            os.lchown(path, self.uid, self.gid)


# Where this machine's TLS trust is configured. The lifecycle passes none of these to buildpacks:
# a platform behind a TLS-intercepting proxy sets them as platform env (`pack build --env`).
TRUST_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def host_trust_env() -> dict[str, str]:
    """This machine's CA settings, to hand to builds as platform env (as an operator would)."""
    return {name: os.environ[name] for name in TRUST_VARIABLES if os.environ.get(name)}


def build_user() -> BuildUser:
    """uid/gid 1000 when we are root (creating a `cnb` user if the machine has none), else ourselves."""
    if os.geteuid() != 0:
        return BuildUser(os.geteuid(), os.getegid())
    import pwd

    try:
        pwd.getpwuid(BUILD_UID)
    except KeyError:
        subprocess.run(["groupadd", "-g", str(BUILD_GID), "cnb"], check=False, capture_output=True)
        subprocess.run(["useradd", "-u", str(BUILD_UID), "-g", str(BUILD_GID), "-M", "-s", "/bin/sh", "cnb"],
                       check=True, capture_output=True)
    return BuildUser(BUILD_UID, BUILD_GID)


def grant_traverse(path: Path, log: Callable[[str], None]) -> None:
    """Lets the build user reach `path`: adds o+x to ancestors that lack it (e.g. /root, 0700)."""
    if os.geteuid() != 0:
        return
    for ancestor in [path, *path.parents]:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)
            log(f"made {ancestor} traversable (o+x) for the build user")


def local_interpreters() -> dict[str, Path]:
    """Local CPython interpreters by major version ("3.12" -> .../bin/python3), newest patch."""
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for exe in PYENV_VERSIONS.glob("*/bin/python3"):
        name = exe.parts[-3]
        if not re.fullmatch(r"3\.\d+\.\d+", name):
            continue
        key = tuple(int(part) for part in name.split("."))
        major = f"{key[0]}.{key[1]}"
        if major not in found or found[major][0] < key:
            found[major] = (key, exe)
    return {major: exe for major, (_, exe) in sorted(found.items())}


def image_path(directory: Path, python: Path | None) -> str:
    """A build image's PATH: the host's tools without any Python, plus `python` as `python3`."""
    directory.mkdir(parents=True, exist_ok=True)
    for bin_dir in (Path("/usr/bin"), Path("/bin")):
        for tool in sorted(bin_dir.iterdir()) if bin_dir.is_dir() else []:
            link = directory / tool.name
            if tool.name.startswith(("python", "pydoc", "2to3", "idle", "pip")) or os.path.lexists(link):
                continue
            link.symlink_to(tool)
    if os.path.lexists(directory / "python3"):
        (directory / "python3").unlink()
    if python is not None:
        (directory / "python3").symlink_to(python)
    return str(directory)


def artifact_digest(repo: Path) -> str:
    """Digest of everything the artifact is made of: the shipped files of the checkout."""
    from ..package.artifact import source_files

    digest = hashlib.sha256()
    for rel in sorted(source_files(repo)):
        digest.update(str(rel).encode() + b"\0" + (repo / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_artifact(repo: Path, output: Path, log: Callable[[str], None]) -> Path:
    """The packaged buildpack for this checkout at `output`, remade only when its sources changed."""
    from ..package.artifact import build_artifact
    from ..package.targets import DEFAULT_PYTHONS

    stamp = output.with_name(f"{output.name}.digest")
    digest = artifact_digest(repo)
    if output.is_dir() and stamp.is_file() and stamp.read_text() == digest:
        return output
    interpreters = local_interpreters()
    compile_with = [interpreters[v] for v in DEFAULT_PYTHONS if v in interpreters]
    log(f"packaging the buildpack into {output} (python -m python_buildpack_dev.package) ...")
    build_artifact(repo, output, compile_with=compile_with, log=lambda _: None)
    stamp.write_text(digest)
    return output


def install_buildpack(artifact: Path, buildpacks_dir: Path, buildpack_id: str, version: str) -> Path:
    """Lays the artifact out as a builder does: `<buildpacks>/<id with _>/<version>/`, read-only."""
    target = buildpacks_dir / buildpack_id.replace("/", "_") / version
    if buildpacks_dir.exists():
        _set_modes(buildpacks_dir, directory=0o755, file=0o644)  # writable again, to remove it
        shutil.rmtree(buildpacks_dir)
    shutil.copytree(artifact, target, symlinks=True)
    _set_modes(buildpacks_dir, directory=0o555, file=0o444)
    return target


def _set_modes(root: Path, *, directory: int, file: int) -> None:
    """Executables keep their x bits."""
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, directory)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, file | (0o111 if os.stat(path).st_mode & 0o100 else 0))
