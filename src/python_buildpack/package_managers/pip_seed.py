"""The venv's `pip`, without a copy of pip in the venv (nor in the image).

With the classic buildpack, `pip` in build hooks and one-off containers acts on the app's
venv. An installed pip is 14 MB and a thousand files of the venv: two thirds of a Flask app's,
tarred again by the exporter at every dependency change and shipped in every image. So the
venv gets what finds a pip outside it instead:

- `site-packages/pip-outside-venv.pth`, two paths that the interpreter adds to `sys.path`
  when they exist: the `pip` layer's zip application (the pinned pip; a build-only layer, so
  present at build time only), then the pip wheel that the runtime bundles for `ensurepip`
  (in the runtime layer, so present at launch too). `import pip`, `python -m pip` and the
  scripts below thus run the pinned pip while building and the runtime's own in the
  container, whichever they are, acting on the venv;
- `bin/pip`, `bin/pip3` and `bin/pip3.X`, the console scripts pip itself would write.

A requirements file that pins pip still installs that pip into the venv, where it comes
first on `sys.path`.
"""

from __future__ import annotations

from pathlib import Path

from ..layers.tools import bundled_pip_wheel, wheel_version

PTH = "pip-outside-venv.pth"
OUTSIDE = "found outside it"  # the venv metadata's `venv_pip` (layers/venv.py)
_SCRIPT = """#!{python}
import sys
from pip._internal.cli.main import main
if __name__ == "__main__":
    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    sys.exit(main())
"""


def seed(venv: Path, pinned: Path | None) -> Path | None:
    """Gives the new `venv` its `pip`: `pinned` (the pip layer's zip application) at build time,
    the runtime's bundled pip wheel at launch; returns that wheel (None: the runtime has none)."""
    site = next(venv.glob("lib/python3*/site-packages"))  # a venv has exactly one
    python_major = site.parent.name.removeprefix("python")
    home = runtime_home(venv)
    bundled = bundled_pip_wheel(home, python_major) if home is not None else None
    paths = [path for path in (pinned, bundled) if path is not None]
    (site / PTH).write_text("".join(f"{path}\n" for path in paths), encoding="utf-8")
    for name in ("pip", "pip3", f"pip{python_major}"):
        script = venv / "bin" / name
        script.unlink(missing_ok=True)
        script.write_text(_SCRIPT.format(python=venv / "bin" / "python"), encoding="utf-8")
        script.chmod(0o755)
    return bundled


def runtime_home(venv: Path) -> Path | None:
    """The runtime a venv was made from: `home` in its `pyvenv.cfg` is the runtime's `bin/`."""
    try:
        text = (venv / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return Path(value.strip()).parent
    return None


def describe(pinned: str | None, bundled: Path | None) -> str:
    """The log line: which pip `pip` runs, while building and in the container."""
    if bundled is not None:
        launch = f"the runtime's pip {wheel_version(bundled)} in the container"
    else:
        launch = "none in the container (the runtime bundles no pip wheel)"
    build = f"pip {pinned} while building" if pinned else "the runtime's while building"
    return f"pip stays out of the venv and the image: `pip` runs {build}, {launch}"
