"""The `pip`, `pipenv`, `poetry` and `uv` layers: the pinned tools (build, cache).

Reused while the pinned version, the Python version and the stack are unchanged.

- `pip` holds the pinned pip's wheel, fetched with the pip wheel bundled in the runtime's
  `ensurepip` (run as is, never installed: the runtime layer gets no pip), and the same pip
  unpacked with its byte-code in `lib/`. That copy runs everything that needs pip at build
  time: it installs the other tools, and pip apps' requirements, run by the venv's own
  interpreter. The image carries no copy of it; pip apps' venvs get pip from the wheel.
- `pipenv`, `poetry` and `uv` each live in a small venv made from the runtime, in
  `<layer>/venv` rather than at the layer root: no `bin/` of a build-only layer must land on
  the PATH of later build steps (its python or pip would act on the tool's venv). uv, when
  its wheel could be fetched during the runtime install (tool_wheels.py), is its binary alone
  in `<layer>/venv/bin`, installed without pip.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from .. import output
from ..cnb.layers import Layer, LayerMetadata
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..package_managers.base import NETWORK_ERRORS, Completed, Runtime, ToolInstall, run
from ..package_managers.choice import choose
from ..package_managers.versions import TOOL_VERSIONS, Tool
from ..stack import Stack
from . import tool_wheels

TYPES = LayerTypes(build=True, cache=True)
# The wheels fetched while the runtime is installed: `start_prefetch` (build.py, before the
# runtime) starts it, `ensure` takes the wheels.
_prefetch: tool_wheels.Prefetch | None = None


class ToolMetadata(LayerMetadata):
    version: str = Field(title="the pinned version")
    python_version: str = Field(title="the Python version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")


def expected(name: Tool, runtime: Runtime) -> ToolMetadata:
    return ToolMetadata(
        version=TOOL_VERSIONS[name], python_version=runtime.version, stack=runtime.stack.name, arch=runtime.stack.arch
    )


def installed(layers_dir: Path, name: Tool) -> ToolInstall:
    return ToolInstall(name, TOOL_VERSIONS[name], layers_dir / name)


def is_current(layers_dir: Path, name: Tool, runtime: Runtime) -> bool:
    return Layer(layers_dir, name).decide(expected(name, runtime)).keep and installed(layers_dir, name).complete()


def keep_if_current(layers_dir: Path, name: Tool, runtime: Runtime) -> None:
    """Keeps a valid cached tool layer without installing anything; drops a stale one."""
    layer = Layer(layers_dir, name)
    metadata = expected(name, runtime)
    decision = layer.decide(metadata)
    if decision.keep and installed(layers_dir, name).complete():
        layer.write(TYPES, metadata)
    elif decision.had_previous or layer.path.exists():
        output.step(f"Discarding cached {name} since {decision.reason_text or 'its files are incomplete'}")
        layer.delete()


def start_prefetch(
    layers_dir: Path, app_dir: Path, stack: Stack, python_version: str, settings: Mapping[str, str]
) -> None:
    """Starts fetching the wheels of the tool layers this build will install (none when cached)."""
    global _prefetch
    try:
        manager = choose(app_dir).manager
    except BuildError:
        return  # the dependencies step reports it
    runtime = Runtime(layers_dir / "python", python_version, stack)
    uv_installer = manager == "pip" and settings.get("BP_PYTHON_INSTALLER", "").strip().lower() == "uv"
    tool: Tool = "uv" if uv_installer else manager
    # uv's wheel is the uv layer on its own; pip installs pipenv and poetry.
    needed: Tool = "uv" if tool == "uv" else "pip"
    if not is_current(layers_dir, tool, runtime) and not is_current(layers_dir, needed, runtime):
        _prefetch = tool_wheels.start([needed], settings, stack.arch)


def prefetching(name: Tool) -> bool:
    return _prefetch is not None and _prefetch.has(name)


def ensure(
    layers_dir: Path, name: Tool, runtime: Runtime, env: Mapping[str, str], pip: ToolInstall | None
) -> ToolInstall:
    """The tool at its pinned version, from the cache or freshly installed (`pip` installs the others)."""
    layer = Layer(layers_dir, name)
    metadata = expected(name, runtime)
    tool = installed(layers_dir, name)
    decision = layer.decide(metadata)
    if decision.keep and not tool.complete():
        decision.keep, decision.reasons = False, ["its files are incomplete"]
    if decision.keep:
        output.step(f"Using cached {name} {tool.version}")
        layer.write(TYPES, metadata)
        return tool
    if decision.had_previous:
        restored, _ = layer.restored_metadata(ToolMetadata)
        old = f" {restored.version}" if restored else ""
        output.step(f"Discarding cached {name}{old} since {decision.reason_text}")
    fetched = _prefetch.take(name) if _prefetch is not None else None
    if fetched is not None:
        output.step(f"Fetched {name} {tool.version} while Python was installed ({output.format_duration(fetched[1])})")
    elif pip is None and name != "pip":
        pip = ensure(layers_dir, "pip", runtime, env, None)  # the wheel could not be fetched: pip installs it
    layer.reset()
    try:
        with output.timed(f"Installing {name} {tool.version}"):
            if fetched is not None:
                _from_wheel(tool, runtime, dict(env), fetched[0])
            elif pip is None:
                _fetch_pip(tool, runtime, dict(env))
            else:
                _install(tool, runtime, dict(env), pip)
    except BaseException:
        layer.delete()  # never keep a half-installed tool
        raise
    layer.write(TYPES, metadata)
    return tool


def pip_options(env: Mapping[str, str]) -> list[str]:
    options = ["--no-input", "--disable-pip-version-check"]
    if "PIP_CACHE_DIR" not in env:
        options.append("--no-cache-dir")  # tools are cached as layers; their downloads need not be
    return options


def _fetch_pip(tool: ToolInstall, runtime: Runtime, env: dict[str, str]) -> None:
    # Only to download the pinned wheel: a pip that a private mirror's archive may ship, else
    # the pip wheel bundled with ensurepip, run as is.
    wheel = _bundled_pip_wheel(runtime)
    if _runtime_has_pip(runtime):
        pip: list[str | Path] = [runtime.python, "-m", "pip"]
    elif wheel is not None:
        pip = [runtime.python, f"{wheel}/pip"]
    else:
        raise BuildError(
            f"Python {runtime.version} has no ensurepip module to bootstrap pip with",
            "The buildpack downloads its pinned pip with the pip wheel that CPython bundles in "
            "lib/python3.X/ensurepip/_bundled. If you run a private runtime mirror "
            "(BP_PYTHON_RUNTIME_BASE_URL), keep the ensurepip module in its archives.",
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
    _check(tool, run([*pip, *download], env | {"PYTHONDONTWRITEBYTECODE": "1"}, tool.layer, echo=False))
    if not tool.pip_wheel.is_file():
        raise BuildError(
            f"Downloading pip {tool.version} did not produce {tool.pip_wheel.name}",
            f"{tool.wheels} holds {', '.join(p.name for p in tool.wheels.iterdir()) or 'nothing'}. If "
            "the app's environment points pip at a private index (PIP_INDEX_URL), check that it "
            f"serves the wheel of pip {tool.version}.",
        )
    _unpack(tool, runtime, env)


def _from_wheel(tool: ToolInstall, runtime: Runtime, env: dict[str, str], wheel: Path) -> None:
    """The layer made from its fetched wheel: pip unpacked, uv's binary alone (no venv, no pip)."""
    if tool.name == "pip":
        tool.wheels.mkdir(parents=True, exist_ok=True)
        shutil.move(wheel, tool.pip_wheel)
        _unpack(tool, runtime, env)
        return
    binary = tool.executable()
    binary.parent.mkdir(parents=True)
    member = f"{tool.name}-{tool.version}.data/scripts/{tool.name}"
    with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, binary.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    binary.chmod(0o755)
    wheel.unlink()


def _unpack(tool: ToolInstall, runtime: Runtime, env: dict[str, str]) -> None:
    """The wheel unpacked with unchecked-hash byte-code: run from a zip, pip would import
    every module from source at each run (seconds per command)."""
    lib = tool.pip_main.parent
    with zipfile.ZipFile(tool.pip_wheel) as wheel:
        # The package only: a pip-*.dist-info on the path would make the venv's interpreter
        # see pip as installed when it runs this copy. zipfile drops absolute and `..` paths.
        wheel.extractall(lib, [name for name in wheel.namelist() if name.startswith("pip/")])
    compile_cmd: list[str | Path] = [
        runtime.python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", lib,
    ]  # fmt: skip
    _check(tool, run(compile_cmd, env, tool.layer, echo=False))


def _install(tool: ToolInstall, runtime: Runtime, env: dict[str, str], pip: ToolInstall) -> None:
    _check(tool, run([runtime.python, "-m", "venv", "--without-pip", tool.home], env, tool.layer, echo=False))
    python = tool.home / "bin" / "python"
    install = ["install", *pip_options(env), "--root-user-action=ignore", f"{tool.name}=={tool.version}"]
    _check(tool, run([python, pip.pip_main, *install], env, tool.layer, echo=False))
    if not tool.executable().exists():
        raise BuildError(
            f"Installing {tool.name} {tool.version} did not produce {tool.executable().name}",
            f"The package installed without error but {tool.executable()} is missing. If the "
            "app's environment points pip at a private index (PIP_INDEX_URL), check that it serves "
            f"the genuine {tool.name} {tool.version}.",
        )


def _runtime_has_pip(runtime: Runtime) -> bool:
    return (runtime.home / "lib" / f"python{runtime.major}" / "site-packages" / "pip" / "__main__.py").is_file()


def _bundled_pip_wheel(runtime: Runtime) -> Path | None:
    bundled = runtime.home / "lib" / f"python{runtime.major}" / "ensurepip" / "_bundled"
    wheels = sorted(bundled.glob("pip-*.whl"), key=lambda p: _version_key(p.name))
    return wheels[-1] if wheels else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name.split("-")[1]))


def _check(tool: ToolInstall, result: Completed) -> None:
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
        if name in used:
            continue
        layer = Layer(layers_dir, name)
        if layer.path.exists() or layer.toml_path.exists():
            output.step(f"Removing cached {name} (this build does not use it)")
            layer.delete()
