"""The venv's `pip` without pip in the venv: the pip layer's zip application while building,
the runtime's bundled pip wheel at launch. Checked with a real venv of the interpreter running
the tests and the real pip wheel it bundles for ensurepip (the pinned pip from the index is in
tests/e2e/test_cold_builds.py)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from python_buildpack.files import bytecode
from python_buildpack.layers import pip_zipapp, tool_wheels
from python_buildpack.layers.tools import bundled_pip_wheel
from python_buildpack.package_managers import pip_seed

MAJOR = f"{sys.version_info.major}.{sys.version_info.minor}"
BASE = Path(sys.base_prefix)


def _bundled() -> Path:
    wheel = bundled_pip_wheel(BASE, MAJOR)
    if wheel is None:
        pytest.skip(f"{BASE} bundles no pip wheel")
    return wheel


def zipapp(root: Path, wheel: Path) -> Path:
    """The pip layer's file, made as layers/tools.py makes it: unpacked, compiled, zipped."""
    lib = root / "lib"
    tool_wheels.unpack_pip(wheel, lib)
    python = BASE / "bin" / f"python{MAJOR}"
    subprocess.run(bytecode.command(python, "unchecked-hash", [lib], legacy=True, ddir="."), check=True)
    dest = root / f"pip-{pip_seed.wheel_version(wheel)}.pyz"
    pip_zipapp.write(lib / "pip", wheel, dest)
    return dest


def venv(root: Path) -> Path:
    subprocess.run([BASE / "bin" / f"python{MAJOR}", "-m", "venv", "--without-pip", root], check=True)
    return root


def run(venv_dir: Path, *args: str) -> str:
    done = subprocess.run([*args], cwd=venv_dir, capture_output=True, text=True, check=True)
    return done.stdout


def test_pip_runs_from_the_zip_while_building_and_from_the_runtime_at_launch(tmp_path: Path) -> None:
    wheel = _bundled()
    pinned = zipapp(tmp_path / "pip-layer", wheel)
    app_venv = venv(tmp_path / "venv")

    assert pip_seed.seed(app_venv, pinned) == wheel
    site = next(app_venv.glob("lib/python3*/site-packages"))
    assert (site / pip_seed.PTH).read_text().splitlines() == [str(pinned), str(wheel)]
    assert not (site / "pip").exists() and not list(site.glob("pip-*.dist-info"))  # no copy in the venv

    # While building: the pinned pip, from each way of starting it, acting on the venv.
    for command in (["bin/pip", "--version"], [f"bin/pip{MAJOR}", "--version"], ["bin/python", "-m", "pip", "--version"]):
        out = run(app_venv, *[str(app_venv / command[0]), *command[1:]])
        assert f"from {pinned}/pip (python {MAJOR})" in out
    listed = run(app_venv, str(app_venv / "bin" / "pip"), "list", "--format=freeze")
    assert f"pip=={pip_seed.wheel_version(wheel)}" in listed.split()  # its metadata came along

    # At launch the build-only layer is gone: the runtime's own pip answers.
    pinned.unlink()
    out = run(app_venv, str(app_venv / "bin" / "pip"), "--version")
    assert f"from {wheel}/pip (python {MAJOR})" in out


def test_the_zip_holds_byte_code_in_place_of_sources_and_starts_from_its_root(tmp_path: Path) -> None:
    wheel = _bundled()
    pinned = zipapp(tmp_path / "pip-layer", wheel)
    with zipfile.ZipFile(pinned) as archive:
        names = set(archive.namelist())
    assert "__main__.py" in names  # what pip runs to install build dependencies: `python <zip>`
    assert {"pip/__init__.pyc", "pip/__main__.pyc", "pip/_internal/cli/main.pyc"} <= names
    sources = [name for name in names if name.endswith(".py") and f"{name}c" in names]
    assert sources and all("/_in_process/" in name for name in sources)  # only the scripts pip runs as files
    assert "pip/__init__.py" not in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".exe")]
    assert any(name.endswith("certifi/cacert.pem") for name in names)  # data files stay
    assert f"pip-{pip_seed.wheel_version(wheel)}.dist-info/METADATA" in names
    out = subprocess.run([sys.executable, pinned, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith(f"pip {pip_seed.wheel_version(wheel)} from {pinned}")

    again = zipapp(tmp_path / "again", wheel)
    assert again.read_bytes() == pinned.read_bytes()  # the same pip, the same bytes: the cache layer stays put


def test_a_runtime_without_a_bundled_wheel_leaves_pip_to_the_build(tmp_path: Path) -> None:
    fake = tmp_path / "venv"
    (fake / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
    (fake / "bin").mkdir()
    (fake / "pyvenv.cfg").write_text(f"home = {tmp_path / 'runtime' / 'bin'}\n")
    pinned = tmp_path / "pip-26.3.pyz"

    assert pip_seed.seed(fake, pinned) is None
    assert (fake / "lib" / "python3.12" / "site-packages" / pip_seed.PTH).read_text() == f"{pinned}\n"
    assert sorted(path.name for path in (fake / "bin").iterdir()) == ["pip", "pip3", "pip3.12"]
    assert pip_seed.describe("26.3", None) == (
        "pip stays out of the venv and the image: `pip` runs pip 26.3 while building, "
        "none in the container (the runtime bundles no pip wheel)"
    )


def test_the_log_line_names_both_pips() -> None:
    wheel = Path("/layers/python/lib/python3.12/ensurepip/_bundled/pip-24.0-py3-none-any.whl")
    assert pip_seed.describe("26.3", wheel).endswith("runs pip 26.3 while building, the runtime's pip 24.0 in the container")
    assert "runs the runtime's while building" in pip_seed.describe(None, wheel)


def test_a_venv_of_an_older_build_with_pip_installed_is_installed_anew_once() -> None:
    from python_buildpack.layers.venv import VenvMetadata

    older = VenvMetadata.model_validate({  # an older build's layer metadata: no `venv_pip`
        "python_version": "3.12.1", "stack": "scalingo-22", "arch": "amd64", "package_manager": "pip",
        "package_manager_version": "26.3", "app_dir": "/workspace", "inputs": {"requirements.txt": "x"},
    })  # fmt: skip
    now = older.model_copy(update={"venv_pip": pip_seed.OUTSIDE, "inputs": {"requirements.txt": "y"}})
    assert now.changes_from(older) == ["the venv's pip changed from installed in it to found outside it",
                                       "requirements.txt changed"]  # fmt: skip
