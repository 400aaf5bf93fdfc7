"""The `python` layer: the CPython runtime (build, launch, cache).

Reused while stack, architecture, version and the archive's pinned checksum are unchanged.
Byte-code is compiled with unchecked-hash invalidation: the exported layer's mtimes are
normalised, which would make timestamp-based .pyc files stale at every start.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from .. import output
from ..cnb.context import BuildContext
from ..cnb.layers import Layer, LayerMetadata
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..runtime_catalog import RuntimeCatalog
from ..stack import Stack

LAYER_NAME = "python"
TYPES = LayerTypes(build=True, launch=True, cache=True)


class PythonLayerMetadata(LayerMetadata):
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")
    python_version: str = Field(title="the Python version")
    archive_sha256: str | None = Field(
        default=None, title="the runtime archive checksum", json_schema_extra={"opaque": True}
    )


@dataclass(frozen=True)
class PythonRuntime:
    home: Path  # the install prefix: bin/python3, lib/...
    version: str

    @property
    def python(self) -> Path:
        return self.home / "bin" / "python3"

    @property
    def major(self) -> str:
        return ".".join(self.version.split(".")[:2])


def install(ctx: BuildContext, stack: Stack, version: str, catalog: RuntimeCatalog) -> PythonRuntime:
    layer = Layer(ctx.layers_dir, LAYER_NAME)
    filename = f"python-{version}-ubuntu-{stack.ubuntu_version}-{stack.arch}.tar.zst"
    pin = catalog.sha256_for(filename)
    expected = PythonLayerMetadata(stack=stack.name, arch=stack.arch, python_version=version, archive_sha256=pin)
    runtime = PythonRuntime(layer.path, version)

    decision = layer.decide(expected)
    if decision.keep:
        output.step(f"Using cached Python {version}")
        layer.write(TYPES, expected)
        return runtime
    if decision.had_previous:
        old = decision.previous.python_version if decision.previous else "runtime"
        output.step(f"Discarding cached Python {old} since {decision.reason_text}")

    # Imported here: httpx and zstandard cost ~50 ms that a warm rebuild does not need.
    from ..archive import extract_tar_zst
    from ..runtime_download import base_url, download, runtime_url

    layer.delete()
    url = runtime_url(base_url(ctx.env), version, stack.ubuntu_version, stack.arch)
    archive = ctx.layers_dir / f".{filename}.download"
    try:
        with output.timed(f"Downloading Python {version} ({filename})"):
            download(url, archive, sha256=pin)
        with output.timed(f"Installing Python {version}"):
            extract_tar_zst(archive, layer.path)
            _post_install(runtime)
    except BaseException:
        layer.delete()  # never leave a half-installed runtime behind
        raise
    finally:
        archive.unlink(missing_ok=True)
    layer.write(TYPES, expected)
    _write_env(layer)
    return runtime


def previous_version(layers_dir: Path) -> str | None:
    """The Python version of the restored `python` layer, from its metadata (None if unusable)."""
    metadata, _ = Layer(layers_dir, LAYER_NAME).restored_metadata(PythonLayerMetadata)
    return metadata.python_version if metadata else None


def build_env(runtime: PythonRuntime, env: dict[str, str]) -> dict[str, str]:
    """The environment later steps of this build need (a buildpack's own layer env is not applied)."""
    env = dict(env)
    env["PATH"] = _prepend(str(runtime.home / "bin"), env.get("PATH", ""))
    env["LD_LIBRARY_PATH"] = _prepend(str(runtime.home / "lib"), env.get("LD_LIBRARY_PATH", ""))
    env.pop("PYTHONHOME", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("LANG", "C.UTF-8")
    return env


def _write_env(layer: Layer) -> None:
    # `.default`: a value the user sets (at build or run time) wins.
    layer.env.default("PYTHONUNBUFFERED", "1")
    layer.env.default("LANG", "C.UTF-8")
    # The runtime's own pip must not install into this cached layer (a `pip install` in a
    # hook of a uv or poetry app would otherwise land here and stick across builds).
    layer.env.default("PIP_REQUIRE_VIRTUALENV", "1")


def _prepend(value: str, current: str) -> str:
    return f"{value}{os.pathsep}{current}" if current else value


def _post_install(runtime: PythonRuntime) -> None:
    bin_dir = runtime.home / "bin"
    if not runtime.python.exists():
        raise BuildError(
            f"The Python {runtime.version} archive has no bin/python3",
            "The runtime archive's top level must be the install prefix (bin/python3, lib/...). "
            "If you run a private runtime mirror (BP_PYTHON_RUNTIME_BASE_URL), check how its "
            "archives are packed.",
        )
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to("python3")
    env = build_env(runtime, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    stdlib = runtime.home / "lib" / f"python{runtime.major}"
    # No ensurepip, whatever the archive holds: the pinned pip runs from the `pip` tool layer
    # and only pip apps get it, in their venv (see layers/tools.py).
    if not _has_hash_pycs(stdlib, runtime.major):
        # The production archives ship this byte-code; compiling it here is the fallback.
        _compile(runtime, stdlib, env)


def _has_hash_pycs(stdlib: Path, major: str) -> bool:
    """Whether the archive already ships hash-based byte-code (flags field of the .pyc header)."""
    tag = "cpython-" + major.replace(".", "")
    try:
        header = (stdlib / "__pycache__" / f"os.{tag}.pyc").read_bytes()[:8]
    except OSError:
        return False
    return len(header) == 8 and bool(int.from_bytes(header[4:8], "little") & 1)


def _compile(runtime: PythonRuntime, stdlib: Path, env: dict[str, str]) -> None:
    cmd = [str(runtime.python), "-m", "compileall", "-q", "-f", "-j", "0", "--invalidation-mode", "unchecked-hash",
           str(stdlib)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace")
    # Exit status 1: some file did not compile (e.g. lib2to3 grammar tests), not fatal. Any
    # other status means the interpreter itself does not run.
    if proc.returncode not in (0, 1):
        raise BuildError(
            f"Python {runtime.version} does not run after installation",
            f"`python3 -m compileall` failed with exit status {proc.returncode}. The runtime "
            "archive may not match this stack.",
            output=proc.stdout + proc.stderr,
        )
