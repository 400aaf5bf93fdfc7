"""The `pip`, `pipenv`, `poetry` and `uv` layers: each pinned tool in a small venv (build, cache).

Reused while the pinned version, the Python version and the stack are unchanged. The tool
lives in `<layer>/venv`, not at the layer root, so that no `bin/` of a build-only layer lands
on the PATH of later build steps (its `pip` would install into the tool's venv).

pip comes first: it is bootstrapped from the wheel bundled with the runtime's `ensurepip`,
then installs the other tools with `--python <tool venv>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from .. import output
from ..cnb.layers import Layer, LayerMetadata
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..package_managers.base import NETWORK_ERRORS, Completed, Runtime, ToolInstall, run
from ..package_managers.versions import TOOL_VERSIONS, Tool

TYPES = LayerTypes(build=True, cache=True)
TOOL_DIR = "venv"


class ToolMetadata(LayerMetadata):
    version: str = Field(title="the pinned version")
    python_version: str = Field(title="the Python version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")


def expected(name: Tool, runtime: Runtime) -> ToolMetadata:
    return ToolMetadata(
        version=TOOL_VERSIONS[name],
        python_version=runtime.version,
        stack=runtime.stack.name,
        arch=runtime.stack.arch,
    )


def installed(layer: Layer, name: Tool) -> ToolInstall:
    return ToolInstall(name, TOOL_VERSIONS[name], layer.path / TOOL_DIR)


def is_current(layers_dir: Path, name: Tool, runtime: Runtime) -> bool:
    layer = Layer(layers_dir, name)
    return layer.decide(expected(name, runtime)).keep and installed(layer, name).executable().exists()


def keep_if_current(layers_dir: Path, name: Tool, runtime: Runtime) -> None:
    """Keeps a valid cached tool layer without installing anything; drops a stale one."""
    layer = Layer(layers_dir, name)
    metadata = expected(name, runtime)
    decision = layer.decide(metadata)
    if decision.keep and installed(layer, name).executable().exists():
        layer.write(TYPES, metadata)
    elif decision.had_previous or layer.path.exists():
        output.step(f"Discarding cached {name} since {decision.reason_text or 'its files are incomplete'}")
        layer.delete()


def ensure(
    layers_dir: Path, name: Tool, runtime: Runtime, env: Mapping[str, str], pip: ToolInstall | None
) -> ToolInstall:
    """The tool at its pinned version, from the cache or freshly installed."""
    layer = Layer(layers_dir, name)
    metadata = expected(name, runtime)
    tool = installed(layer, name)
    decision = layer.decide(metadata)
    if decision.keep and not tool.executable().exists():
        decision.keep, decision.reasons = False, ["its files are incomplete"]
    if decision.keep:
        output.step(f"Using cached {name} {tool.version}")
        layer.write(TYPES, metadata)
        return tool
    if decision.had_previous:
        restored, _ = layer.restored_metadata(ToolMetadata)
        old = f" {restored.version}" if restored else ""
        output.step(f"Discarding cached {name}{old} since {decision.reason_text}")
    layer.reset()
    try:
        with output.timed(f"Installing {name} {tool.version}"):
            _install(tool, runtime, dict(env), layer.path.parent, pip)
    except BaseException:
        layer.delete()  # never keep a half-installed tool
        raise
    layer.write(TYPES, metadata)
    return tool


def _install(tool: ToolInstall, runtime: Runtime, env: dict[str, str], cwd: Path, pip: ToolInstall | None) -> None:
    _check(tool, run([runtime.python, "-m", "venv", "--without-pip", tool.home], env, cwd, echo=False))
    options = ["install", "--no-input", "--disable-pip-version-check", "--root-user-action=ignore"]
    if "PIP_CACHE_DIR" not in env:
        options.append("--no-cache-dir")  # tools are cached as layers; their wheels need not be
    requirement = f"{tool.name}=={tool.version}"
    if pip is not None:
        cmd: list[str | Path] = [pip.python, "-m", "pip", "--python", tool.python, *options, requirement]
        _check(tool, run(cmd, env, cwd, echo=False))
    else:
        wheel = _bundled_pip_wheel(runtime)
        if wheel is None:  # a runtime without ensurepip's wheel: bootstrap, then upgrade
            _check(tool, run([tool.python, "-m", "ensurepip"], env, cwd, echo=False))
            _check(tool, run([tool.python, "-m", "pip", *options, requirement], env, cwd, echo=False))
        else:  # pip runs straight from its wheel to install the pinned pip
            _check(tool, run([tool.python, f"{wheel}/pip", *options, requirement], env, cwd, echo=False))
    if not tool.executable().exists():
        raise BuildError(
            f"Installing {tool.name} {tool.version} did not produce {tool.executable().name}",
            f"The package installed without error but {tool.executable()} is missing. If the "
            "app's environment points pip at a private index (PIP_INDEX_URL), check that it serves "
            f"the genuine {tool.name} {tool.version}.",
        )


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
