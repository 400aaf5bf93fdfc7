"""pip as a zip application: the `pip` layer's one file (layers/tools.py).

A compiled pip is a thousand files; cached as a directory, the restorer writes them all back at
every build, and as a packed copy a changed build unpacks them before its update. Zipped, with
the byte-code beside each source (`module.pyc`, the layout zipimport reads, unchecked-hash so
that nothing re-reads the source), pip runs straight from the one file: `python pip.pyz ...`
starts within a few tens of milliseconds of the unpacked copy (measured: `pip install`, the
Flask app's venv).

The root `__main__.py` is what pip needs to run from a zip: to install a package's build
dependencies it starts itself again as `python <the zip>` (pip's `get_runnable_pip`). The
wheel's `.dist-info` goes in too, so that `import pip` from the zip also finds pip's metadata
(`pip list`, `importlib.metadata.version("pip")`).

The sources whose byte-code is there, and distlib's Windows launchers (`*.exe`), stay out: the
zip is a cache layer, restored and hashed at every build, and they are two fifths of it (4.9
MB down to 2.9 MB). zipimport runs a `module.pyc` with no `module.py`; what a sourceless pip
loses is the source lines in the traceback of a crash of pip itself. The scripts that pip runs
as files in a subprocess (pyproject_hooks' `_in_process.py`, for build backends) keep theirs.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

MAIN = 'import runpy\nrunpy.run_module("pip", run_name="__main__", alter_sys=True)\n'
# Fixed, so that the same pip gives the same bytes (the cache layer's digest stays put).
_DATE = (1980, 1, 1, 0, 0, 0)
_LEVEL = 1  # the fastest deflate: a third of the size of stored members, for a few tenths of a second
# Directories whose sources pip reads as files (to run them in a subprocess), not as modules.
_SCRIPTS = ("pip/_vendor/pyproject_hooks/_in_process/",)


def write(package: Path, wheel: Path, dest: Path) -> None:
    """Zips `package` (pip's unpacked `pip/`, compiled) and the `.dist-info` of `wheel` into `dest`."""
    partial = dest.with_name(f".{dest.name}.partial")
    with zipfile.ZipFile(partial, "w") as out:
        out.writestr(_info("__main__.py"), MAIN, compresslevel=_LEVEL)
        for directory, dirs, files in os.walk(package):
            dirs.sort()
            present = set(files)
            for name in sorted(files):
                path = Path(directory, name)
                arcname = path.relative_to(package.parent).as_posix()
                if _left_out(arcname, present):
                    continue
                out.writestr(_info(arcname), path.read_bytes(), compresslevel=_LEVEL)
        with zipfile.ZipFile(wheel) as source:
            for info in source.infolist():
                if ".dist-info/" in info.filename and not info.is_dir() and info.filename.count("/") == 1:
                    out.writestr(_info(info.filename), source.read(info), compresslevel=_LEVEL)
    partial.replace(dest)


def _left_out(arcname: str, siblings: set[str]) -> bool:
    """A Windows launcher, or a module's source whose byte-code is beside it."""
    name = arcname.rpartition("/")[2]
    if name.endswith(".exe"):
        return True
    return name.endswith(".py") and f"{name}c" in siblings and not arcname.startswith(_SCRIPTS)


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info
