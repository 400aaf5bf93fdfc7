"""The packaging command: its lock, wheel unpacking, file selection, and the artifact it makes.

Tests marked e2e use the real artifact (built once per session with `pip download` of the
locked wheels, see support/artifact.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from support.artifact import REPO, Artifact, local_interpreters, packaged_artifact

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.descriptor import PackageDescriptor
from python_buildpack.errors import BuildError
from python_buildpack.package.__main__ import main as package_main
from python_buildpack.package.artifact import EXCLUDED, source_files, write_tgz
from python_buildpack.package.lock import UPDATE_COMMAND, check_project, pins_for, read_lock
from python_buildpack.package.targets import DEFAULT_PYTHONS, MACHINES, Target, targets
from python_buildpack.package.vendor import COMMON, MANIFEST, PRUNED, unpack

# ELF e_machine values: what a compiled module was built for, read from its header.
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    return packaged_artifact(tmp_path_factory.getbasetemp() / "packaged")


# --- the lock --------------------------------------------------------------------------------


def test_lock_matches_the_project_dependencies() -> None:
    check_project(read_lock(), REPO / "pyproject.toml", targets())


def test_lock_pins_exact_versions_with_hashes_per_target() -> None:
    pins = read_lock()
    assert pins and all(pin.hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes) for pin in pins)
    declared = {re.split(r"[<>=!~;\[ ]", dep)[0].lower().replace("_", "-")
                for dep in toml_io.load(REPO / "pyproject.toml")["project"]["dependencies"]}
    for target in targets():
        names = {pin.name for pin in pins_for(pins, target)}
        wanted = {name for name in declared if name != "tomli" or target.python < "3.11"}
        assert wanted <= names, target
        # tomli (and anyio's exceptiongroup) only where the standard library lacks them
        assert ("tomli" in names) == (target.python == "3.10"), target


def test_a_dependency_missing_from_the_lock_is_named(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    project = toml_io.load(REPO / "pyproject.toml")["project"]
    deps = [*project["dependencies"], "cyclonedx-python-lib>=7", "pydantic>=99"]
    pyproject.write_text("[project]\ndependencies = [" + ", ".join(json.dumps(d) for d in deps) + "]\n")
    with pytest.raises(BuildError) as caught:
        check_project(read_lock(), pyproject, targets())
    assert "cyclonedx-python-lib" in caught.value.details and "pydantic" in caught.value.details
    assert UPDATE_COMMAND in caught.value.details


def test_malformed_lock_line_is_reported_with_its_number(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\nhttpx==0.28.1 \\\n    --hash=sha256:" + "a" * 64 + "\npydantic>=2\n")
    with pytest.raises(BuildError, match="line 4"):
        read_lock(lock)


def test_targets_name_the_vendor_dirs_boot_py_looks_for() -> None:
    assert [t.name for t in targets()] == ["cp310-aarch64", "cp310-x86_64", "cp312-aarch64", "cp312-x86_64"]
    tags = Target("3.12", "aarch64").platform_tags()
    assert tags[0] == "manylinux_2_31_aarch64" and "manylinux2014_aarch64" in tags
    assert all(tag.endswith("_aarch64") for tag in tags)


# --- wheel unpacking -------------------------------------------------------------------------


def make_wheel(path: Path, members: dict[str, tuple[bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        for name, (data, mode) in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            wheel.writestr(info, data)
    return path


def test_unpack_installs_what_site_packages_would_get(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", {
        "demo/__init__.py": (b"x = 1\n", 0o644),
        "demo/_native.cpython-312-x86_64-linux-gnu.so": (b"\x7fELF", 0o755),
        "demo/_cffi.cpython-312-x86_64-linux-gnu.so": (b"\x7fELF", 0o755),
        "demo-1.0.data/purelib/demo_extra.py": (b"y = 2\n", 0o644),
        "demo-1.0.data/scripts/demo-cli": (b"#!python\n", 0o755),
        "demo-1.0.data/headers/demo.h": (b"", 0o644),
        "demo-1.0.dist-info/METADATA": (b"Name: demo\n", 0o644),
    })
    written = unpack(wheel, tmp_path / "out", ("demo/_cffi.*",))
    assert sorted(written) == [
        "demo-1.0.dist-info/METADATA", "demo/__init__.py",
        "demo/_native.cpython-312-x86_64-linux-gnu.so", "demo_extra.py",
    ]
    assert (tmp_path / "out" / "demo" / "_native.cpython-312-x86_64-linux-gnu.so").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out" / "demo" / "__init__.py").stat().st_mode & 0o777 == 0o644
    # a second wheel writing the same file is an error, not a silent overwrite
    with pytest.raises(BuildError, match="Two vendored wheels install"):
        unpack(wheel, tmp_path / "out")


@pytest.mark.parametrize("member", ["../evil.py", "/abs/evil.py", "demo/../../evil.py"])
def test_unpack_refuses_member_names_outside_the_target(tmp_path: Path, member: str) -> None:
    wheel = make_wheel(tmp_path / "evil-1.0-py3-none-any.whl", {member: (b"", 0o644)})
    with pytest.raises(BuildError, match="unsafe member"):
        unpack(wheel, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


# --- file selection and the tarball ----------------------------------------------------------


def test_source_files_are_the_run_time_files_only(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for entry in ("bin", "lib", "layers_templates", "src", "tests", "examples", "dev"):
        shutil.copytree(REPO / entry, repo / entry, ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("buildpack.toml", "package.toml", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, repo / name)
    # debris a working tree collects
    (repo / "src/python_buildpack/__pycache__").mkdir(exist_ok=True)
    (repo / "src/python_buildpack/__pycache__/build.cpython-311.pyc").write_bytes(b"")
    (repo / "src/python_buildpack/.build.py.swp").write_bytes(b"")
    (repo / "lib/run-phase.sh~").write_text("")
    (repo / "src/python_buildpack.egg-info").mkdir()
    (repo / "src/python_buildpack.egg-info/PKG-INFO").write_text("")
    files = source_files(repo)
    assert {"bin/detect", "bin/build", "lib/run-phase.sh", "lib/boot.py", "lib/bootstrap.sh", "lib/detect.sh",
            "buildpack.toml", "layers_templates/exec.d/web_concurrency",
            "src/python_buildpack/data/runtime-catalog.toml", "src/python_buildpack/__main__.py",
            "src/python_buildpack/cnb/context.py"} <= set(files)
    assert all(f == "buildpack.toml" or f.split("/")[0] in ("bin", "lib", "layers_templates", "src") for f in files)
    assert not [f for f in files if "__pycache__" in f or f.endswith(("~", ".pyc", ".swp")) or "egg-info" in f]
    excluded = tuple(f"{e}/" for e in EXCLUDED)
    assert not [f for f in files if f.startswith(excluded)]
    # every .py module of the package outside the dev tools is shipped
    expected = {p.relative_to(repo).as_posix() for p in (repo / "src/python_buildpack").rglob("*.py")
                if "__pycache__" not in p.parts and not p.relative_to(repo).as_posix().startswith(excluded)}
    assert expected <= set(files)


def test_tarball_is_reproducible_and_normalised(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "build").write_text("#!/bin/sh\n")
    (root / "bin" / "build").chmod(0o775)
    (root / "a.txt").write_text("a")
    (root / "a.txt").chmod(0o600)
    write_tgz(root, tmp_path / "one.tgz", 315532800)
    os.utime(root / "a.txt", (1_700_000_000, 1_700_000_000))
    write_tgz(root, tmp_path / "two.tgz", 315532800)
    assert (tmp_path / "one.tgz").read_bytes() == (tmp_path / "two.tgz").read_bytes()
    with tarfile.open(tmp_path / "one.tgz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["a.txt", "bin", "bin/build"]
    assert members["bin/build"].mode == 0o755 and members["a.txt"].mode == 0o644 and members["bin"].mode == 0o755
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members.values()} == {(0, 0, "", "", 315532800)}


# --- the artifact ----------------------------------------------------------------------------


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of content (+ mode), for every file under `root`."""
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            result[path.relative_to(root).as_posix()] = f"{digest} {path.stat().st_mode & 0o777:o}"
    return result


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


def test_output_that_is_not_an_artifact_is_never_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert package_main(["--output", str(precious), "--machine", "x86_64", "--python", "3.12"]) == 1
    assert (precious / "notes.txt").read_text() == "keep me"
    err = capsys.readouterr().err
    assert "is not a buildpack artifact" in err and "Traceback" not in err
    assert not list(tmp_path.glob(".precious*"))  # no staging dir left behind


def test_compile_with_an_interpreter_of_another_version_is_refused(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    others = [p for v, p in local_interpreters().items() if v not in DEFAULT_PYTHONS]
    if not others:
        pytest.skip("no local interpreter of a non-vendored version")
    from python_buildpack.package.artifact import compile_bytecode

    with pytest.raises(BuildError, match="not an interpreter of a vendored Python version"):
        compile_bytecode(tmp_path, others[0], targets(), lambda _: None)


def test_cli_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        package_main(["--help"])
    text = capsys.readouterr().out
    for option in ("--output", "--tgz", "--python", "--machine", "--compile-with", "--update-lock"):
        assert option in text
    assert set(MACHINES) <= set(re.findall(r"x86_64|aarch64", text))


def test_entry_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    scripts = [REPO / "lib" / name for name in ("run-phase.sh", "bootstrap.sh", "detect.sh")]
    proc = subprocess.run([shellcheck, "-s", "sh", *map(str, scripts)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("python", sorted(local_interpreters()))
def test_boot_script_parses_on_every_local_python(python: str) -> None:
    """lib/boot.py runs on whatever python3 an image has, and must at least hand over from it."""
    exe = local_interpreters()[python]
    code = "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')"
    proc = subprocess.run([str(exe), "-c", code, str(REPO / "lib" / "boot.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
