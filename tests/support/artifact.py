"""Test support: the packaged buildpack and stand-ins for build images with and without python3.

The artifact is made once per test session by the real packaging code (`pip download` of the
locked wheels: pip's cache makes later sessions fast), byte-compiled with the local
interpreters of the vendored versions when they exist, and also written as a .tgz.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from python_buildpack_dev.package.artifact import build_artifact
from python_buildpack_dev.package.targets import DEFAULT_PYTHONS
from python_buildpack_dev.platform.build_image import PYENV_VERSIONS, image_path, local_interpreters

REPO = Path(__file__).resolve().parents[2]

# Offline and index-less settings: any attempt to reach a package index or the internet fails,
# only loopback (the runtime mirror) answers.
NO_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull,
            "UV_OFFLINE": "1", "UV_INDEX_URL": "http://127.0.0.1:9/simple"}
NO_NETWORK = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
              "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


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


__all__ = ["NO_INDEX", "NO_NETWORK", "PYENV_VERSIONS", "REPO", "Artifact", "image_path", "local_interpreters",
           "packaged_artifact"]
