"""The packaging command: its lock, wheel unpacking, file selection, and the artifact it makes.

Tests marked e2e use the real artifact (built once per session with `pip download` of the
locked wheels, see support/artifact.py).
"""

from __future__ import annotations

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
from python_buildpack.errors import BuildError
from python_buildpack_dev.package.__main__ import main as package_main
from python_buildpack_dev.package.artifact import source_files, write_tgz
from python_buildpack_dev.package.lock import UPDATE_COMMAND, check_project, pins_for, read_lock
from python_buildpack_dev.package.targets import DEFAULT_PYTHONS, MACHINES, VendorTarget, targets
from python_buildpack_dev.package.vendor import unpack


# ELF e_machine values: what a compiled module was built for, read from its header.
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
    tags = VendorTarget("3.12", "aarch64").platform_tags()
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
            "layers_templates/gunicorn/env.launch/GUNICORN_CMD_ARGS.default",
            "layers_templates/web-concurrency/env.launch/PORT.default",
            "src/python_buildpack/data/runtime-catalog.toml", "src/python_buildpack/__main__.py",
            "src/python_buildpack/cnb/context.py"} <= set(files)
    assert all(f == "buildpack.toml" or f.split("/")[0] in ("bin", "lib", "layers_templates", "src") for f in files)
    assert not [f for f in files if "__pycache__" in f or f.endswith(("~", ".pyc", ".swp")) or "egg-info" in f]
    assert not [f for f in files if f.startswith("src/python_buildpack_dev/")]
    # every .py module of the shipped package is shipped
    expected = {p.relative_to(repo).as_posix() for p in (repo / "src/python_buildpack").rglob("*.py")
                if "__pycache__" not in p.parts}
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




# Every module of the buildpack a build can import, loaded the way lib/boot.py sets sys.path up.
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
    from python_buildpack_dev.package.artifact import compile_bytecode

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
    scripts += [REPO / "bin" / name for name in ("detect", "build")]
    # SC1091: bin/ sources lib/ by a path computed from $0, which shellcheck does not follow.
    proc = subprocess.run([shellcheck, "-s", "sh", "-e", "SC1091", *map(str, scripts)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("python", sorted(local_interpreters()))
def test_boot_script_parses_on_every_local_python(python: str) -> None:
    """lib/boot.py runs on whatever python3 an image has, and must at least hand over from it."""
    exe = local_interpreters()[python]
    code = "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')"
    proc = subprocess.run([str(exe), "-c", code, str(REPO / "lib" / "boot.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
