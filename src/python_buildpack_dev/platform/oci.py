"""OCI image layouts on disk: the run image we make, and reading back what the exporter wrote.

The reference engine keeps images in an OCI layout directory (the lifecycle's `-layout` mode):
`<layout>/<registry>/<repository>/<tag>/` holds `oci-layout`, `index.json` and `blobs/`. The run
image is made here, not pulled: no registry is reachable from our machines, and a platform's run
image is, to the lifecycle, only a config (os, arch, distro labels, env) plus layers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from python_buildpack.stacks.table import CNB_STACK_IDS, UBUNTU_TO_STACK

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"

# A run image's user: the platform convention the lifecycle also defaults to.
RUN_USER = (1000, 1000)
RUN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The run image's environment (the emulated launcher starts from it too).
RUN_ENV = {"PATH": RUN_PATH, "CNB_USER_ID": str(RUN_USER[0]), "CNB_GROUP_ID": str(RUN_USER[1])}


def ref_path(layout_dir: Path, reference: str) -> Path:
    """Where the lifecycle keeps `reference` in a layout dir (imgutil's ParseRefToPath)."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        name, tag = reference, "latest"
    parts = name.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = ["index.docker.io", *(["library"] if len(parts) == 1 else []), *parts]
    return layout_dir.joinpath(*parts, tag)


def _put_blob(root: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    path = root / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _empty_layer() -> bytes:
    """One layer with the directories every Ubuntu run image has; reproducible bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("tmp", "etc"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
    return buffer.getvalue()


def write_run_image(layout_dir: Path, reference: str, *, arch: str, distro_version: str) -> Path:
    """A minimal Ubuntu run image: os/arch, the distro labels platforms read, a user and an env."""
    root = ref_path(layout_dir, reference)
    layer = _empty_layer()
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {
            "User": f"{RUN_USER[0]}:{RUN_USER[1]}",
            "Env": [f"{name}={value}" for name, value in RUN_ENV.items()],
            "Labels": {
                "io.buildpacks.base.distro.name": "ubuntu",
                "io.buildpacks.base.distro.version": distro_version,
                "io.buildpacks.stack.id": CNB_STACK_IDS[UBUNTU_TO_STACK[distro_version]],
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
        "history": [{"created_by": "python_buildpack_dev.platform.oci: minimal run image"}],
    }
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    config_desc = {"mediaType": CONFIG_TYPE, **_put_blob(root, json.dumps(config, sort_keys=True).encode())}
    layer_desc = {"mediaType": LAYER_TYPE, **_put_blob(root, layer)}
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config_desc, "layers": [layer_desc]}
    manifest_desc = {"mediaType": MANIFEST_TYPE, **_put_blob(root, json.dumps(manifest, sort_keys=True).encode()),
                     "annotations": {REF_NAME: reference}}
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [manifest_desc]}
    (root / "index.json").write_text(json.dumps(index, sort_keys=True))
    return root


@dataclass(frozen=True)
class Image:
    """An image read back from a layout directory."""

    root: Path
    manifest: dict[str, Any]
    config: dict[str, Any]

    @classmethod
    def load(cls, root: Path) -> Image:
        index = json.loads((root / "index.json").read_text())
        manifest = json.loads(_blob(root, index["manifests"][0]["digest"]).read_bytes())
        config = json.loads(_blob(root, manifest["config"]["digest"]).read_bytes())
        return cls(root, manifest, config)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("config", {}).get("Labels") or {})

    @property
    def env(self) -> dict[str, str]:
        pairs = (item.partition("=") for item in self.config.get("config", {}).get("Env") or [])
        return {name: value for name, _, value in pairs}

    @property
    def entrypoint(self) -> list[str]:
        return list(self.config.get("config", {}).get("Entrypoint") or [])

    def layer_paths(self) -> list[Path]:
        """Layer blobs, base first. A sparse layout (the lifecycle's) may lack the run image's."""
        return [_blob(self.root, layer["digest"]) for layer in self.manifest["layers"]]

    def extract(self, destination: Path, *, under: Path) -> int:
        """Unpacks every present layer into `destination` (a root fs), keeping only paths below `under`.

        The exporter writes layers at their build-time absolute paths, so `destination=/`
        lays the image out where the build had it: venv shebangs and pyvenv.cfg stay valid.
        """
        keep = PurePosixPath(os.path.relpath(under, destination))
        count = 0
        for blob in self.layer_paths():
            if not blob.is_file():
                continue
            with tarfile.open(blob) as tar:
                members = [m for m in tar.getmembers() if _below(PurePosixPath(m.name), keep)]
                tar.extractall(destination, members=members, filter="tar", numeric_owner=True)
                count += 1
        return count


def _below(path: PurePosixPath, root: PurePosixPath) -> bool:
    path = PurePosixPath(str(path).lstrip("/"))
    return path == root or root in path.parents


def _blob(root: Path, digest: str) -> Path:
    algorithm, _, value = digest.partition(":")
    return root / "blobs" / algorithm / value
