"""Test support: the packaged buildpack and stand-ins for build images with and without python3.

The artifact is made once per test session by the real packaging code (`pip download` of the
locked wheels: pip's cache makes later sessions fast), byte-compiled with the local
interpreters of the vendored versions when they exist, and also written as a .tgz.
"""

from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from python_buildpack.package.artifact import build_artifact
from python_buildpack.package.targets import DEFAULT_PYTHONS

REPO = Path(__file__).resolve().parents[2]
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"

# Offline and index-less settings: any attempt to reach a package index or the internet fails,
# only loopback (the runtime mirror) answers.
NO_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull,
            "UV_OFFLINE": "1", "UV_INDEX_URL": "http://127.0.0.1:9/simple"}
NO_NETWORK = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
              "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


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


@dataclass(frozen=True)
class Artifact:
    directory: Path
    tgz: Path
    compiled_for: tuple[str, ...]

    def unpack(self, dest: Path) -> Path:
        """The .tgz extracted into `dest`, as a platform operator would before `pack`."""
        dest.mkdir(parents=True)
        with tarfile.open(self.tgz) as tar:
            tar.extractall(dest, filter="data")
        return dest


_built: dict[Path, Artifact] = {}


def packaged_artifact(base: Path) -> Artifact:
    """The artifact built under `base` (a session temp dir), made on first use."""
    if base not in _built:
        interpreters = local_interpreters()
        compile_with = [interpreters[v] for v in DEFAULT_PYTHONS if v in interpreters]
        report = build_artifact(REPO, base / "scalingo-python", compile_with=compile_with,
                                tgz=base / "scalingo-python.tgz", log=lambda _: None)
        assert report.tgz is not None
        _built[base] = Artifact(report.output, report.tgz, tuple(report.compiled_for))
    return _built[base]


def image_path(directory: Path, python: Path | None) -> str:
    """A build image's PATH: the host's tools without any Python, plus `python` as `python3`."""
    directory.mkdir(parents=True, exist_ok=True)
    for bin_dir in (Path("/usr/bin"), Path("/bin")):
        for tool in sorted(bin_dir.iterdir()) if bin_dir.is_dir() else []:
            link = directory / tool.name
            if tool.name.startswith(("python", "pydoc", "2to3", "idle", "pip")) or os.path.lexists(link):
                continue
            link.symlink_to(tool)
    if python is not None and not os.path.lexists(directory / "python3"):
        (directory / "python3").symlink_to(python)
    return str(directory)
