"""The venv's own pip, placed from the `pip` layer without running pip.

A requirements.txt app's venv carries the pinned pip (the image's only one), so that `pip` in
build hooks and one-off containers acts on the app's venv. Installing it with pip took a whole
pip run, and compiling its 500 modules more than the rest of that install; the `pip` layer
already holds the same files unpacked with unchecked-hash byte-code, valid at any path for
this Python version (with `BP_PYTHON_INSTALLER=uv` there is no pip layer: pip's wheel, fetched
with uv's, gives the files, without byte-code). So the venv gets what `pip install pip==<pin>`
would have written:

- `site-packages/pip/`, hard links to the layer's copy (a copy where links cannot be made:
  pip and the import system replace files, never write into them, so neither copy can
  change the other), or the wheel's files;
- `pip-<pin>.dist-info/` from the wheel, with `INSTALLER`, `REQUESTED` and a `RECORD` listing
  every file (`pip uninstall` and upgrades read it);
- `bin/pip`, `bin/pip3` and `bin/pip3.X`, the console scripts pip itself would write.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import zipfile
from pathlib import Path

from ..files import trees

_SCRIPT = """#!{python}
import sys
from pip._internal.cli.main import {function}
if __name__ == "__main__":
    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    sys.exit({function}())
"""


def seed(venv: Path, wheel_path: Path, version: str, package: Path | None = None) -> None:
    """Puts pip `version` into the new `venv`: its metadata from its wheel, its package from
    `package` (the `pip` layer's unpacked copy, with byte-code), else from the wheel."""
    site = next(venv.glob("lib/python3*/site-packages"))  # a venv has exactly one
    python_major = site.parent.name.removeprefix("python")
    dist_info = f"pip-{version}.dist-info"
    records: dict[str, tuple[str, str]] = {}  # path relative to site-packages → (hash, size)
    with zipfile.ZipFile(wheel_path) as wheel:  # zipfile drops absolute and `..` paths
        names = wheel.namelist()
        members = [name for name in names if name.startswith(f"{dist_info}/")]
        if package is None:
            members += [name for name in names if name.startswith("pip/")]
        wheel.extractall(site, [name for name in members if not name.endswith("/RECORD")])
        if f"{dist_info}/RECORD" in members:
            for row in csv.reader(io.StringIO(wheel.read(f"{dist_info}/RECORD").decode("utf-8"))):
                if len(row) == 3:
                    records[row[0]] = (row[1], row[2])
        scripts = f"{dist_info}/entry_points.txt"
        entry_points = wheel.read(scripts).decode("utf-8") if scripts in members else ""
    if package is not None:
        trees.link_copy(package, site / "pip")
    (site / dist_info / "INSTALLER").write_text("pip\n", encoding="utf-8")
    (site / dist_info / "REQUESTED").write_text("", encoding="utf-8")
    for name in _script_names(entry_points, python_major):
        script = venv / "bin" / name
        script.unlink(missing_ok=True)
        text = _SCRIPT.format(python=venv / "bin" / "python", function=_function(entry_points))
        script.write_text(text, encoding="utf-8")
        script.chmod(0o755)
        records[os.path.relpath(script, site)] = _digest(script)
    for path in sorted((site / "pip").rglob("*")) + sorted((site / dist_info).rglob("*")):
        relative = path.relative_to(site).as_posix()
        if path.is_file() and relative not in records:
            records[relative] = ("", "") if path.suffix == ".pyc" else _digest(path)
    records[f"{dist_info}/RECORD"] = ("", "")
    with (site / dist_info / "RECORD").open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows((path, *entry) for path, entry in records.items())


def _script_names(entry_points: str, python_major: str) -> list[str]:
    """pip, pip3 (the wheel's console scripts) and pip3.X, as pip's own installer names them."""
    names = [line.split("=")[0].strip() for line in _console_scripts(entry_points)] or ["pip", "pip3"]
    return list(dict.fromkeys([*names, f"pip{python_major}"]))


def _function(entry_points: str) -> str:
    for line in _console_scripts(entry_points):
        return line.split(":")[-1].strip()
    return "main"


def _console_scripts(entry_points: str) -> list[str]:
    lines, section = [], ""
    for raw in entry_points.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[console_scripts]" and "=" in line and ":" in line:
            lines.append(line)
    return lines


def _digest(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    encoded = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={encoded}", str(len(data))
