"""The `pip`, `pipenv`, `poetry` and `uv` layers: the pinned tools (build).

Made only by the builds that install dependencies.

- `pip` is one file, `pip-<pin>.pyz`: the pinned pip's package and metadata with their
  byte-code (for the runtime's Python version), zipped with a `__main__.py`, which any
  interpreter of that version runs as is (`python pip-<pin>.pyz install ...`; the byte-code
  is unchecked-hash, beside each source, where zipimport reads it). It installs the other
  tools and pip apps' requirements, run by the venv's own interpreter. Cached as it is: a
  later build restores one file, and a changed build's update runs it without a download,
  unpacking or compiling. The wheel comes from the index during the runtime install
  (tool_wheels.py), else through the pip wheel bundled in the runtime's `ensurepip` (run as
  is, never installed). The image carries no pip of it: a pip app's venv finds it at build
  time, and the runtime's own at launch (package_managers/pip_seed.py).
- `pipenv`, `poetry` and `uv` each live in a small venv made from the runtime, in
  `<layer>/venv` rather than at the layer root: no `bin/` of a build-only layer must land on
  the PATH of later build steps (its python or pip would act on the tool's venv). uv, when
  its wheel could be fetched during the runtime install (tool_wheels.py), is its binary alone
  in `<layer>/venv/bin`, installed without pip. Cached as packed copies (caching/packed.py)
  for apps whose builds run Python at every redeploy (caching/plan.py), reused while the
  pinned version, the Python version and the stack are unchanged; the other apps' builds
  fetch them again, while the runtime downloads.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from .. import output
from ..caching import packed
from ..caching.plan import CachePlan
from ..cnb.layers import LayerDefinition, LayerMetadata, Restored
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..files import bytecode
from ..network_errors import NETWORK_ERRORS
from ..process import Command, Completed
from ..stacks.table import OWN_MIRROR
from ..step_context import Context
from ..tool_versions import TOOL_VERSIONS, Tool
from . import pip_zipapp, tool_wheels
from .python import Runtime

TYPES = LayerTypes(build=True)
PIP_TYPES = LayerTypes(build=True, cache=True)  # one file: cheap to restore at every build
# The wheels fetched while the runtime is installed: `start_prefetch` (build.py, before the
# runtime) starts it, `install` takes the wheels.
_prefetch: tool_wheels.Prefetch | None = None
# The tools this build installed (not unpacked from a packed copy): their copies are packed anew.
_made: set[Tool] = set()


@dataclass(frozen=True)
class ToolInstall:
    """A pinned tool in its build-only layer: pip as a zip application (`pip_main`), the
    others in a small venv (`venv/`) made from the runtime."""

    name: Tool
    version: str
    layer: Path

    @property
    def home(self) -> Path:
        return self.layer / "venv"

    @property
    def wheels(self) -> Path:
        return self.layer / "wheels"

    @property
    def pip_wheel(self) -> Path:
        """Where pip's wheel waits while the layer is made."""
        return self.wheels / f"pip-{self.version}-py3-none-any.whl"

    @property
    def pip_main(self) -> Path:
        """What `python <pip_main> install ...` runs: pip as a zip application."""
        return self.layer / f"pip-{self.version}.pyz"

    def executable(self, name: str | None = None) -> Path:
        return self.home / "bin" / (name or self.name)

    def complete(self) -> bool:
        if self.name == "pip":
            return self.pip_main.is_file()
        return self.executable().exists()


class ToolMetadata(LayerMetadata):
    version: str = Field(title="the pinned version")
    python_version: str = Field(title="the Python version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")


def _definition(name: Tool) -> LayerDefinition[ToolMetadata]:
    def complete(path: Path) -> str | None:
        return None if ToolInstall(name, TOOL_VERSIONS[name], path).complete() else "its files are incomplete"

    return LayerDefinition(name, PIP_TYPES if name == "pip" else TYPES, ToolMetadata, complete)


LAYERS: dict[Tool, LayerDefinition[ToolMetadata]] = {name: _definition(name) for name in TOOL_VERSIONS}


def expected(name: Tool, runtime: Runtime) -> ToolMetadata:
    return ToolMetadata(
        version=TOOL_VERSIONS[name], python_version=runtime.version, stack=runtime.stack.name, arch=runtime.stack.arch
    )


def installed(layers_dir: Path, name: Tool) -> ToolInstall:
    return ToolInstall(name, TOOL_VERSIONS[name], layers_dir / name)


def is_current(layers_dir: Path, name: Tool, runtime: Runtime) -> bool:
    """Whether the tool is there without a download: its layer, or its packed copy."""
    metadata = expected(name, runtime)
    return LAYERS[name].is_current(layers_dir, metadata) or packed.find(LAYERS[name], layers_dir, metadata) is not None


def finish(layers_dir: Path, used: set[Tool], runtime: Runtime, plan: CachePlan) -> None:
    """Before the export: the pip layer kept for the next build while it is current (declared
    again: a layer this build did not open has lost its types), packed copies of the other used
    tools when the plan keeps them (packed anew when this build installed the tool); the
    others' dropped."""
    for name in TOOL_VERSIONS:
        layer = LAYERS[name].layer(layers_dir)
        metadata = expected(name, runtime)
        if name == "pip":
            packed.drop(LAYERS[name], layers_dir)  # of an older build: the layer is its own copy
            if name not in used or not isinstance(LAYERS[name].open(layers_dir, metadata), Restored):
                LAYERS[name].remove(layers_dir)
        elif name not in used or not plan.packed_runtime:
            packed.drop(LAYERS[name], layers_dir)
        elif name in _made and layer.path.is_dir():
            packed.save(LAYERS[name], layers_dir, layer.path, metadata)
        elif packed.keep(LAYERS[name], layers_dir, metadata):
            continue
        elif LAYERS[name].is_current(layers_dir, metadata):
            packed.save(LAYERS[name], layers_dir, layer.path, metadata)  # a layer cached by an older build
        else:
            packed.drop(LAYERS[name], layers_dir)


def start_prefetch(ctx: Context, tool: Tool, runtime: Runtime) -> None:
    """Starts fetching the wheel this build's tool layers start from (none when cached).

    `runtime` is the one about to be installed: its layer need not exist yet."""
    global _prefetch
    # uv's wheel is the uv layer on its own; pip installs pipenv and poetry.
    needed: Tool = "uv" if tool == "uv" else "pip"
    if not is_current(ctx.layers_dir, tool, runtime) and not is_current(ctx.layers_dir, needed, runtime):
        _prefetch = tool_wheels.start([needed], ctx.settings, runtime.stack.arch, ctx.layers_dir, unpack=[needed])


def prefetching(name: Tool) -> bool:
    return _prefetch is not None and _prefetch.has(name)


def install(ctx: Context, env: Mapping[str, str], name: Tool, runtime: Runtime, pip: ToolInstall | None) -> ToolInstall:
    """The tool at its pinned version, from the cache or freshly installed (`pip` installs the others)."""
    tool = installed(ctx.layers_dir, name)
    metadata = expected(name, runtime)
    opened = LAYERS[name].open(ctx.layers_dir, metadata)
    if isinstance(opened, Restored):
        output.step(f"Using cached {name} {tool.version}")
        return tool
    if name == "pip":  # its layer is its own cache: a packed copy is an older build's, of another layout
        packed.drop(LAYERS[name], ctx.layers_dir)
    copy = packed.find(LAYERS[name], ctx.layers_dir, metadata)
    if copy is not None:
        try:
            with opened.fill() as filling, output.timed(f"Unpacking cached {name} {tool.version}"):
                packed.unpack(copy, filling.path)
            return tool
        except BuildError as error:
            output.step(f"Discarding cached {name} since its packed copy could not be unpacked: {error.details}")
            packed.drop(LAYERS[name], ctx.layers_dir)
    reason = opened.reason or packed.stale(LAYERS[name], ctx.layers_dir, metadata)
    if reason:
        previous = opened.previous or packed.previous(LAYERS[name], ctx.layers_dir)
        old = f" {previous.version}" if previous else ""
        output.step(f"Discarding cached {name}{old} since {reason}")
    _made.add(name)
    fetched = _prefetch.take(name) if _prefetch is not None else None
    if fetched is not None:
        output.step(
            f"Fetched {name} {tool.version} while Python was installed ({output.format_duration(fetched.seconds)})"
        )
    elif pip is None and name != "pip":
        pip = install(ctx, env, "pip", runtime, None)  # the wheel could not be fetched: pip installs it
    with opened.fill(), output.timed(f"Installing {name} {tool.version}"):
        if fetched is not None:
            _from_wheel(ctx, tool, runtime, dict(env), fetched)
        elif pip is None:
            _fetch_pip(ctx, tool, runtime, dict(env))
        else:
            _install(ctx, tool, runtime, dict(env), pip)
    return tool


def pip_options(env: Mapping[str, str]) -> list[str]:
    options = ["--no-input", "--disable-pip-version-check"]
    if "PIP_CACHE_DIR" not in env:
        options.append("--no-cache-dir")  # tools are cached as layers; their downloads need not be
    return options


def _fetch_pip(ctx: Context, tool: ToolInstall, runtime: Runtime, env: dict[str, str]) -> None:
    # Only to download the pinned wheel: a pip that a private mirror's archive may ship, else
    # the pip wheel bundled with ensurepip, run as is.
    wheel = bundled_pip_wheel(runtime.home, runtime.major)
    if _runtime_has_pip(runtime):
        pip: list[str | Path] = [runtime.python, "-m", "pip"]
    elif wheel is not None:
        pip = [runtime.python, f"{wheel}/pip"]
    else:
        raise BuildError(
            f"Python {runtime.version} has no ensurepip module to bootstrap pip with",
            "The buildpack downloads its pinned pip with the pip wheel that CPython bundles in "
            f"lib/python3.X/ensurepip/_bundled. {OWN_MIRROR}, keep the ensurepip module in its archives.",
        )
    requirement = f"pip=={tool.version}"
    download: list[str | Path] = [
        "download",
        *pip_options(env),
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        tool.wheels,
        requirement,
    ]
    # Never write byte-code into the runtime (a launch layer) while running its pip.
    # Outside any venv, whatever a cached runtime layer of an older build says.
    _run(ctx, tool, [*pip, *download], env | {"PYTHONDONTWRITEBYTECODE": "1", "PIP_REQUIRE_VIRTUALENV": "0"})
    if not tool.pip_wheel.is_file():
        raise BuildError(
            f"Downloading pip {tool.version} did not produce {tool.pip_wheel.name}",
            f"{tool.wheels} holds {', '.join(p.name for p in tool.wheels.iterdir()) or 'nothing'}. If "
            "the app's environment points pip at a private index (PIP_INDEX_URL), check that it "
            f"serves the wheel of pip {tool.version}.",
        )
    _zipapp(ctx, tool, runtime, env)


def _from_wheel(
    ctx: Context, tool: ToolInstall, runtime: Runtime, env: dict[str, str], fetched: tool_wheels.Fetched
) -> None:
    """The layer made from its fetched wheel: pip as a zip application, uv's binary alone (no venv, no pip)."""
    wheel = fetched.wheel
    if tool.name == "pip":
        tool.wheels.mkdir(parents=True, exist_ok=True)
        shutil.move(wheel, tool.pip_wheel)
        if fetched.unpacked is not None:  # unpacked while Python was installed
            (tool.layer / "lib").mkdir(parents=True, exist_ok=True)
            shutil.move(fetched.unpacked, tool.layer / "lib" / "pip")
        _zipapp(ctx, tool, runtime, env)
        return
    binary = tool.executable()
    if fetched.unpacked is not None:  # unpacked while Python was installed
        binary.parent.mkdir(parents=True)
        shutil.move(fetched.unpacked, binary)
    else:
        tool_wheels.unpack_uv(wheel, tool.version, binary)
    wheel.unlink()


def _zipapp(ctx: Context, tool: ToolInstall, runtime: Runtime, env: dict[str, str]) -> None:
    """pip's wheel made into the layer's zip application, with unchecked-hash byte-code beside
    each source: from a zip without it, pip would compile every module it imports at each run."""
    lib = tool.layer / "lib"
    if not (lib / "pip" / "__main__.py").is_file():
        tool_wheels.unpack_pip(tool.pip_wheel, lib)
    # `--ddir .`: the byte-code names its source `./pip/...`, not a directory gone after the build.
    _run(ctx, tool, bytecode.command(runtime.python, "unchecked-hash", [lib], legacy=True, ddir="."), env)
    pip_zipapp.write(lib / "pip", tool.pip_wheel, tool.pip_main)
    shutil.rmtree(lib)
    shutil.rmtree(tool.wheels)


def _install(ctx: Context, tool: ToolInstall, runtime: Runtime, env: dict[str, str], pip: ToolInstall) -> None:
    _run(ctx, tool, [runtime.python, "-m", "venv", "--without-pip", tool.home], env)
    python = tool.home / "bin" / "python"
    options = [*pip_options(env), "--root-user-action=ignore", "--no-compile"]
    _run(ctx, tool, [python, pip.pip_main, "install", *options, f"{tool.name}=={tool.version}"], env)
    # Unchecked-hash, on every core: nothing edits a tool's files, so no import re-reads a
    # source to check its byte-code (pip's checked-hash, with SOURCE_DATE_EPOCH, would).
    _run(ctx, tool, bytecode.command(python, "unchecked-hash", [tool.home / "lib"]), env)
    if not tool.executable().exists():
        raise BuildError(
            f"Installing {tool.name} {tool.version} did not produce {tool.executable().name}",
            f"The package installed without error but {tool.executable()} is missing. If the "
            "app's environment points pip at a private index (PIP_INDEX_URL), check that it serves "
            f"the genuine {tool.name} {tool.version}.",
        )


def _runtime_has_pip(runtime: Runtime) -> bool:
    return (runtime.home / "lib" / f"python{runtime.major}" / "site-packages" / "pip" / "__main__.py").is_file()


def bundled_pip_wheel(home: Path, python_major: str) -> Path | None:
    """The newest pip wheel that a runtime at `home` bundles for `ensurepip`."""
    bundled = home / "lib" / f"python{python_major}" / "ensurepip" / "_bundled"
    return max(bundled.glob("pip-*.whl"), key=lambda p: _version_key(p.name), default=None)


def wheel_version(wheel: Path) -> str:
    """The version in a wheel's file name (`pip-24.0-py3-none-any.whl`: 24.0)."""
    return wheel.name.split("-")[1]


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", wheel_version(Path(name))))


def _run(ctx: Context, tool: ToolInstall, cmd: Command, env: Mapping[str, str]) -> None:
    """Runs one step of a tool's installation quietly; its output goes into the error."""
    try:
        result = ctx.run(cmd, env, tool.layer, echo=None)
    except OSError as error:
        result = Completed(127, [f"{cmd[0]}: {error.strerror or error}"])
    if result.returncode == 0:
        return
    if result.matches(NETWORK_ERRORS):
        cause = (
            "The package index could not be reached (see the output above). This is usually "
            "temporary: build again. If the app uses a private index, check PIP_INDEX_URL in its "
            "environment and that the platform can reach it."
        )
    else:
        cause = (
            "The output above says why. The buildpack installs its tools from the same index as the "
            "app's packages: if the app's environment sets PIP_INDEX_URL, that index must serve "
            f"{tool.name} {tool.version} and its dependencies."
        )
    raise BuildError(f"Could not install {tool.name} {tool.version}", cause, output=result.tail())


def remove_unused(layers_dir: Path, used: set[str]) -> None:
    """Deletes cached tool layers of package managers the app no longer uses."""
    for name in TOOL_VERSIONS:
        if name not in used and LAYERS[name].remove(layers_dir):
            output.step(f"Removing cached {name} (this build does not use it)")
