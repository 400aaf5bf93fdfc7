"""The venv's own pip, placed from the pip layer: what `pip install pip` would have written,
checked with a real venv of this interpreter and a small pip-shaped wheel (the real pip is in
tests/e2e/test_dependencies.py)."""

from __future__ import annotations

import base64
import csv
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from python_buildpack.files import bytecode
from python_buildpack.layers.tools import ToolInstall
from python_buildpack.package_managers.pip_seed import seed

VERSION = "26.3"
MAJOR = f"{sys.version_info.major}.{sys.version_info.minor}"
SOURCES = {
    "pip/__init__.py": "",
    "pip/_internal/__init__.py": "",
    "pip/_internal/cli/__init__.py": "",
    "pip/_internal/cli/main.py": "import sys\ndef cli():\n    print('pip cli', sys.argv[1:])\n    return 3\n",
}
ENTRY_POINTS = "[console_scripts]\npip=pip._internal.cli.main:cli\npip3=pip._internal.cli.main:cli\n"


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def pip_layer(root: Path, *, entry_points: bool = True) -> ToolInstall:
    """A pip layer as tools.py leaves it: the wheel, and its package unpacked with byte-code."""
    tool = ToolInstall("pip", VERSION, root / "pip")
    tool.wheels.mkdir(parents=True)
    dist = f"pip-{VERSION}.dist-info"
    files = dict(SOURCES) | {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: pip\nVersion: {VERSION}\n"}
    if entry_points:
        files[f"{dist}/entry_points.txt"] = ENTRY_POINTS
    record = "".join(f"{name},{_hash(text.encode())},{len(text.encode())}\n" for name, text in files.items())
    with zipfile.ZipFile(tool.pip_wheel, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
        wheel.writestr(f"{dist}/RECORD", record + f"{dist}/RECORD,,\n")
    for name, text in SOURCES.items():
        path = tool.pip_main.parent / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    subprocess.run(bytecode.command(Path(sys.executable), "unchecked-hash", [tool.pip_main.parent], ddir="."), check=True)
    return tool


def new_venv(root: Path) -> Path:
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    return venv


def test_the_venv_gets_pip_as_pip_would_install_it(tmp_path: Path) -> None:
    tool, venv = pip_layer(tmp_path), new_venv(tmp_path)
    seed(venv, tool.pip_wheel, tool.version, tool.pip_main)
    site = venv / "lib" / f"python{MAJOR}" / "site-packages"

    # The package is the layer's files, byte-code included, linked rather than copied.
    main = site / "pip" / "_internal" / "cli" / "main.py"
    assert main.stat().st_ino == (tool.pip_main / "_internal" / "cli" / "main.py").stat().st_ino
    assert list((site / "pip" / "_internal" / "cli" / "__pycache__").glob("main.*.pyc"))

    # The console scripts pip writes, run by the venv's interpreter.
    for name in ("pip", "pip3", f"pip{MAJOR}"):
        script = venv / "bin" / name
        assert script.read_text().startswith(f"#!{venv / 'bin' / 'python'}\n")
        proc = subprocess.run([script, "list"], capture_output=True, text=True)
        assert (proc.returncode, proc.stdout) == (3, "pip cli ['list']\n")

    # The metadata pip and importlib read: the version, and a RECORD naming every file with
    # the hash of each one that is not byte-code.
    query = "import importlib.metadata as m; print(m.version('pip')); print(m.distribution('pip').read_text('INSTALLER'))"
    proc = subprocess.run([venv / "bin" / "python", "-c", query], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == [VERSION, "pip"]
    dist = site / f"pip-{VERSION}.dist-info"
    with (dist / "RECORD").open(newline="") as record:
        rows = {path: (digest, size) for path, digest, size in csv.reader(record)}
    on_disk = {p.relative_to(site).as_posix() for p in [*site.rglob("*")] if p.is_file()}
    scripts = {f"../../../bin/{name}" for name in ("pip", "pip3", f"pip{MAJOR}")}
    assert set(rows) == on_disk | scripts
    for path, (digest, size) in rows.items():
        if path.endswith(".pyc") or path.endswith("/RECORD"):
            assert (digest, size) == ("", "")
        else:
            data = (site / path).read_bytes()
            assert (digest, size) == (_hash(data), str(len(data))), path


def test_removing_the_venvs_pip_leaves_the_layer_intact(tmp_path: Path) -> None:
    """What `pip uninstall pip` does, file by file from RECORD: the layer keeps its copy."""
    tool, venv = pip_layer(tmp_path), new_venv(tmp_path)
    seed(venv, tool.pip_wheel, tool.version, tool.pip_main)
    site = venv / "lib" / f"python{MAJOR}" / "site-packages"
    with (site / f"pip-{VERSION}.dist-info" / "RECORD").open(newline="") as record:
        for path, _, _ in list(csv.reader(record)):
            (site / path).unlink()
    assert not list(site.glob("pip/**/*.py")) and not (venv / "bin" / "pip").exists()
    assert sorted(p.relative_to(tool.pip_main.parent).as_posix() for p in tool.pip_main.rglob("*.py")) == sorted(SOURCES)
    assert (tool.pip_main / "_internal" / "cli" / "main.py").read_text() == SOURCES["pip/_internal/cli/main.py"]


def test_a_wheel_without_entry_points_still_gets_the_usual_scripts(tmp_path: Path) -> None:
    tool, venv = pip_layer(tmp_path, entry_points=False), new_venv(tmp_path)
    seed(venv, tool.pip_wheel, tool.version, tool.pip_main)
    assert sorted(p.name for p in (venv / "bin").glob("pip*")) == sorted(["pip", "pip3", f"pip{MAJOR}"])
    assert "import main" in (venv / "bin" / "pip").read_text()


def test_without_a_pip_layer_the_files_come_from_the_wheel(tmp_path: Path) -> None:
    """BP_PYTHON_INSTALLER=uv: no pip layer, the wheel fetched with uv's gives pip its files."""
    tool, venv = pip_layer(tmp_path), new_venv(tmp_path)
    seed(venv, tool.pip_wheel, VERSION)
    site = venv / "lib" / f"python{MAJOR}" / "site-packages"
    main = site / "pip" / "_internal" / "cli" / "main.py"
    assert main.read_text() == SOURCES["pip/_internal/cli/main.py"]
    assert main.stat().st_ino != (tool.pip_main / "_internal" / "cli" / "main.py").stat().st_ino
    assert not list(site.rglob("*.pyc"))
    proc = subprocess.run([venv / "bin" / "pip", "install"], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (3, "pip cli ['install']\n")
    with (site / f"pip-{VERSION}.dist-info" / "RECORD").open(newline="") as record:
        listed = {row[0] for row in csv.reader(record)}
    assert {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()} <= listed
