"""Layer environment files: `<layer>/env/`, `env.build/`, `env.launch/[<process>/]`.

The content of a file is the value byte for byte, so nothing here adds a newline, and
every `.prepend`/`.append` gets a `.delim` file (without one the lifecycle joins with "").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

Scope = Literal["all", "build", "launch"]

_DIRS = {"all": "env", "build": "env.build", "launch": "env.launch"}
# The search paths a build layer's directories go on (Buildpack API, "Layer Paths").
_BUILD_PATHS = (
    ("bin", ("PATH",)),
    ("lib", ("LD_LIBRARY_PATH", "LIBRARY_PATH")),
    ("include", ("CPATH",)),
    ("pkgconfig", ("PKG_CONFIG_PATH",)),
)


class LayerEnv:
    def __init__(self, layer_path: Path) -> None:
        self.layer_path = layer_path

    def _dir(self, scope: Scope, process: str | None) -> Path:
        path = self.layer_path / _DIRS[scope]
        if process:
            if scope != "launch":
                raise ValueError("process-specific env only exists for launch")
            path = path / process
        path.mkdir(parents=True, exist_ok=True)
        return path

    def override(self, name: str, value: str, scope: Scope = "all", process: str | None = None) -> None:
        (self._dir(scope, process) / f"{name}.override").write_text(value, encoding="utf-8")

    def default(self, name: str, value: str, scope: Scope = "all", process: str | None = None) -> None:
        (self._dir(scope, process) / f"{name}.default").write_text(value, encoding="utf-8")

    def prepend_path(self, name: str, value: str, scope: Scope = "all", process: str | None = None) -> None:
        self._join("prepend", name, value, os.pathsep, scope, process)

    def append_path(self, name: str, value: str, scope: Scope = "all", process: str | None = None) -> None:
        self._join("append", name, value, os.pathsep, scope, process)

    def _join(self, how: str, name: str, value: str, delim: str, scope: Scope, process: str | None) -> None:
        directory = self._dir(scope, process)
        (directory / f"{name}.{how}").write_text(value, encoding="utf-8")
        (directory / f"{name}.delim").write_text(delim, encoding="utf-8")


def apply_env_dir(env: dict[str, str], directory: Path) -> None:
    """Applies one env directory to `env` with the spec's suffix rules (used by the lifecycle).

    Files are processed in name order; `NAME.delim` is read alongside its prepend/append.
    """
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError:
        return
    for path in files:
        name, _, suffix = path.name.partition(".")
        value = path.read_text(encoding="utf-8")
        if suffix in ("", "override"):
            env[name] = value
        elif suffix == "default":
            if not env.get(name):
                env[name] = value
        elif suffix in ("prepend", "append"):
            delim_file = directory / f"{name}.delim"
            delim = delim_file.read_text(encoding="utf-8") if delim_file.is_file() else ""
            current = env.get(name, "")
            if not current:
                env[name] = value
            elif suffix == "prepend":
                env[name] = value + delim + current
            else:
                env[name] = current + delim + value
        # `.delim` is consumed above; any other suffix is ignored by the spec.


def apply_layer(env: dict[str, str], layer_path: Path) -> None:
    """`env` as the lifecycle gives it to the build steps after a build layer: its `bin/`, `lib/`,
    `include/` and `pkgconfig/` first on their search paths, then its `env/` and `env.build/`
    files. The buildpack's own later steps see what the next buildpack would."""
    for subdir, names in _BUILD_PATHS:
        if (layer_path / subdir).is_dir():
            for name in names:
                current = env.get(name, "")
                env[name] = f"{layer_path / subdir}{os.pathsep}{current}" if current else str(layer_path / subdir)
    apply_env_dir(env, layer_path / "env")
    apply_env_dir(env, layer_path / "env.build")
