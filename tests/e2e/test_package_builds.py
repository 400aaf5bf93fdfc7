"""The packaging command: its lock, wheel unpacking, file selection, and the artifact it makes.

Tests marked e2e use the real artifact (built once per session with `pip download` of the
locked wheels, see support/artifact.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from support.artifact import REPO, Artifact, local_interpreters, packaged_artifact
from support.trees import tree

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.descriptor import PackageDescriptor
from python_buildpack_dev.package.__main__ import main as package_main
from python_buildpack_dev.package.artifact import source_files
from python_buildpack_dev.package.lock import pins_for, read_lock
from python_buildpack_dev.package.targets import DEFAULT_PYTHONS, targets
from python_buildpack_dev.package.vendor import COMMON, MANIFEST, PRUNED

# ELF e_machine values: what a compiled module was built for, read from its header.
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    return packaged_artifact(tmp_path_factory.getbasetemp() / "packaged")


# --- wheel unpacking -------------------------------------------------------------------------




@pytest.mark.e2e
def test_artifact_holds_the_run_time_files_and_nothing_else(artifact: Artifact) -> None:
    root = artifact.directory
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["bin", "lib", "layers_templates", "src", "vendor", "buildpack.toml", "package.toml"]
    )
    files = set(tree(root))
    shipped = {f for f in files if not f.startswith("vendor/") and f != "package.toml"}
    byte_code = {f for f in shipped if "/__pycache__/" in f}
    assert shipped - byte_code == set(source_files(REPO))
    tags = {f"cpython-{v.replace('.', '')}" for v in artifact.compiled_for}
    assert all(re.search(r"\.(cpython-3\d+)\.pyc$", f) and f.split(".")[-2] in tags for f in byte_code)
    for unwanted in (".venv", ".git", "tests", "examples", "benchmarks", "dev", ".ci", "README.md", "pyproject.toml"):
        assert not any(f == unwanted or f.startswith(unwanted + "/") for f in files), unwanted
    assert not any("/lifecycle/" in f or "/package/" in f or ".egg-info" in f for f in files)
    package = PackageDescriptor.model_validate(toml_io.load(root / "package.toml"))
    assert package.buildpack.uri == "." and package.platform.os == "linux"
    for executable in ("bin/detect", "bin/build", "layers_templates/exec.d/web_concurrency"):
        assert (root / executable).stat().st_mode & 0o777 == 0o755, executable
    assert {p.name for p in (root / "vendor").iterdir()} == {COMMON, MANIFEST, *(t.name for t in targets())}


@pytest.mark.e2e
def test_vendored_wheels_are_the_locked_ones_for_each_target(artifact: Artifact) -> None:
    vendor = artifact.directory / "vendor"
    manifest = json.loads((vendor / MANIFEST).read_text())
    assert manifest["targets"] == [t.name for t in targets()]
    pins = read_lock()
    hashes = {h.split(":", 1)[1] for pin in pins for h in pin.hashes}
    for target in targets():
        used = [w for w in manifest["wheels"] if w["into"] in (COMMON, target.name)]
        names = {re.split(r"-\d", w["wheel"], maxsplit=1)[0].lower().replace("_", "-") for w in used}
        assert {pin.name for pin in pins_for(pins, target)} <= names, target
        # every distribution of the target is importable metadata-wise: a dist-info per pin
        dist_infos = {p.name.split("-")[0].lower().replace("_", "-")
                      for d in (vendor / COMMON, vendor / target.name) for p in d.glob("*.dist-info")}
        assert {pin.name for pin in pins_for(pins, target)} <= dist_infos, target
    assert all(w["sha256"] in hashes for w in manifest["wheels"])
    # compiled modules: only in their target's dir, for its ABI and machine
    assert not list((vendor / COMMON).rglob("*.so"))
    for target in targets():
        modules = list((vendor / target.name).rglob("*.so"))
        assert {m.parent.name for m in modules} == {"pydantic_core", "zstandard"}, target
        for module in modules:
            assert f".cpython-{target.abi[2:]}-{target.machine}-linux-gnu.so" in module.name
            header = module.read_bytes()[:20]
            assert header[:4] == b"\x7fELF" and ELF_MACHINES[int.from_bytes(header[18:20], "little")] == target.machine
        # pruned: the CFFI copy of zstandard's library
        assert not [p for p in (vendor / target.name).rglob("*") if any(
            p.relative_to(vendor / target.name).match(pattern) for pattern in PRUNED["zstandard"])]


def interpreter_for(version: str) -> Path:
    python = local_interpreters().get(version)
    if python is None:
        pytest.skip(f"no local Python {version}")
    return python


# Every module of the buildpack a build can import, loaded the way lib/boot.py sets sys.path up.
IMPORT_ALL = """
import os, pkgutil, sys, importlib
bp = sys.argv[1]
tag = "cp%d%d-%s" % (sys.version_info[0], sys.version_info[1], os.uname()[4])
sys.path[0:0] = [bp + "/src", bp + "/vendor/" + tag, bp + "/vendor/common"]
import python_buildpack
names = sorted(m.name for m in pkgutil.walk_packages(python_buildpack.__path__, "python_buildpack."))
for name in names:
    importlib.import_module(name)
import pydantic, pydantic_core, zstandard, httpx
print(len(names), pydantic.__file__, zstandard.backend_c.__file__)
"""


@pytest.mark.e2e
@pytest.mark.parametrize("version", DEFAULT_PYTHONS)
def test_every_module_imports_from_the_artifact(artifact: Artifact, version: str) -> None:
    python = interpreter_for(version)
    proc = subprocess.run([str(python), "-I", "-S", "-B", "-c", IMPORT_ALL, str(artifact.directory)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    count, pydantic_file, zstd_file = proc.stdout.split()
    assert int(count) > 20
    assert pydantic_file.startswith(str(artifact.directory / "vendor" / COMMON))
    assert zstd_file.startswith(str(artifact.directory / "vendor"))


@pytest.mark.e2e
@pytest.mark.parametrize("version", DEFAULT_PYTHONS)
def test_byte_code_is_shipped_as_unchecked_hash_pycs(artifact: Artifact, version: str) -> None:
    python = interpreter_for(version)
    assert version in artifact.compiled_for
    tag = "cpython-" + version.replace(".", "")
    root = artifact.directory
    dirs = [root / "src", root / "vendor" / COMMON, *(root / "vendor" / t.name for t in targets() if t.python == version)]
    sources = [p for d in dirs for p in d.rglob("*.py")]
    assert len(sources) > 100
    magic = subprocess.run([str(python), "-I", "-S", "-c", "import importlib.util,sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
                           capture_output=True, text=True, check=True).stdout
    for source in sources:
        header = (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").read_bytes()[:8]
        assert header[:4].hex() == magic, source
        assert int.from_bytes(header[4:8], "little") == 0b01, source  # hash-based, never checked


@pytest.mark.e2e
def test_packaging_is_deterministic_and_the_tgz_is_the_directory(artifact: Artifact, tmp_path: Path) -> None:
    interpreters = local_interpreters()
    compile_args = [arg for v in artifact.compiled_for for arg in ("--compile-with", str(interpreters[v]))]
    again = tmp_path / "again"
    code = package_main(["--output", str(again), "--tgz", str(tmp_path / "again.tgz"), *compile_args])
    assert code == 0
    assert tree(again) == tree(artifact.directory)
    assert (tmp_path / "again.tgz").read_bytes() == artifact.tgz.read_bytes()
    with tarfile.open(artifact.tgz) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        assert set(members) == set(tree(artifact.directory))
        extracted = tar.extractfile(members["lib/run-phase.sh"])
        assert extracted is not None
        assert extracted.read() == (artifact.directory / "lib/run-phase.sh").read_bytes()
