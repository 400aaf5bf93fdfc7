"""`pack buildpack package --format file` on the packaged artifact: the .cnb platforms consume.

The .cnb is an OCI image layout in a tar. Its one layer holds the buildpack at
/cnb/buildpacks/<id with _>/<version>/; its labels carry what builders match on.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from support.artifact import Artifact, packaged_artifact

from python_buildpack.cnb import toml_io
from python_buildpack_dev.platform.tools import ReferenceTools

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cnb_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Artifact]:
    """Run in the artifact directory, pack reads its [[targets]] and makes one .cnb per
    architecture (`<name>-linux-<arch>.cnb`), each with the same, both-machines content."""
    tools = ReferenceTools.find()
    if tools is None or tools.pack is None:
        pytest.skip("no pack in .tools/bin (dev/setup builds it when Go is available)")
    artifact = packaged_artifact(tmp_path_factory.getbasetemp() / "packaged")
    out = tmp_path_factory.mktemp("pack") / "scalingo-python.cnb"
    env = {"PATH": os.environ["PATH"], "HOME": str(out.parent), "PACK_HOME": str(out.parent / "pack-home"),
           "DOCKER_HOST": "unix:///nonexistent"}
    done = subprocess.run(
        [str(tools.pack), "buildpack", "package", str(out), "--config", str(artifact.directory / "package.toml"),
         "--format", "file"],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=artifact.directory,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    files = {path.stem.rsplit("-", 1)[1]: path for path in out.parent.glob(f"{out.stem}-linux-*.cnb")}
    return files, artifact


def read(tar: tarfile.TarFile, name: str) -> bytes:
    """pack writes member names with a leading slash."""
    (member,) = [m for m in tar.getmembers() if m.name.lstrip("/") == name]
    data = tar.extractfile(member)
    assert data is not None, name
    return data.read()


def blob(tar: tarfile.TarFile, digest: str) -> bytes:
    return read(tar, f"blobs/sha256/{digest.split(':', 1)[1]}")


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_cnb_carries_the_buildpack_and_its_identity(cnb_files: tuple[dict[str, Path], Artifact], arch: str) -> None:
    files, artifact = cnb_files
    assert sorted(files) == ["amd64", "arm64"], files
    descriptor = toml_io.load(artifact.directory / "buildpack.toml")
    bp_id, version = descriptor["buildpack"]["id"], descriptor["buildpack"]["version"]
    with tarfile.open(files[arch]) as tar:
        index = json.loads(read(tar, "index.json"))
        manifest = json.loads(blob(tar, index["manifests"][0]["digest"]))
        config: dict[str, Any] = json.loads(blob(tar, manifest["config"]["digest"]))
        (layer,) = manifest["layers"]
        with tarfile.open(fileobj=io.BytesIO(blob(tar, layer["digest"]))) as buildpack_layer:
            names = {"/" + name.lstrip("/") for name in buildpack_layer.getnames()}

    assert (config["os"], config["architecture"]) == ("linux", arch)
    labels = config["config"]["Labels"]
    package = json.loads(labels["io.buildpacks.buildpackage.metadata"])
    assert (package["id"], package["version"]) == (bp_id, version)
    layers = json.loads(labels["io.buildpacks.buildpack.layers"])
    entry = layers[bp_id][version]
    assert entry["api"] == descriptor["api"]
    assert entry["targets"] == [
        {"os": t["os"], "arch": t["arch"], "distros": t["distros"]} for t in descriptor["targets"]
    ]
    # Platforms that still match on stacks (older kpack and pack) see the wildcard.
    assert entry["stacks"] == package["stacks"] == [{"id": "*"}]

    root = f"/cnb/buildpacks/{bp_id.replace('/', '_')}/{version}"
    for rel in ("buildpack.toml", "bin/detect", "bin/build", "lib/boot.py", "vendor/manifest.json"):
        assert f"{root}/{rel}" in names, rel
    # only what the buildpack runs: no checkout venv, tests or development tools
    assert not any(name.startswith((f"{root}/.venv", f"{root}/tests", f"{root}/dev", f"{root}/.tools"))
                   for name in names)
