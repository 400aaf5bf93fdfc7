"""The `<tool>-cache` layers: each installer's download cache (build, cache).

Reused while the tool's pinned version and the stack are unchanged. A user setting for the
cache directory (PIP_CACHE_DIR, PIPENV_CACHE_DIR, POETRY_CACHE_DIR, UV_CACHE_DIR) wins: the
installer uses that directory (a platform may share one cache between apps) and the layer is
dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from .. import output
from ..cnb.layers import Layer, LayerMetadata
from ..cnb.models import LayerTypes
from ..package_managers.base import Runtime
from ..package_managers.versions import TOOL_VERSIONS, Tool

TYPES = LayerTypes(build=True, cache=True)


class DownloadCacheMetadata(LayerMetadata):
    version: str = Field(title="the installer version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")


def layer_name(tool: Tool) -> str:
    return f"{tool}-cache"


def prepare(
    layers_dir: Path, tool: Tool, env_var: str, runtime: Runtime, settings: Mapping[str, str], *, quiet: bool = False
) -> dict[str, str]:
    """The cache setting for the installer: our layer, or nothing when the user set their own."""
    layer = Layer(layers_dir, layer_name(tool))
    if settings.get(env_var):
        if layer.path.exists() or layer.toml_path.exists():
            layer.delete()
        if not quiet:
            output.step(f"Download cache: {settings[env_var]} ({env_var} from the app's environment)")
        return {}
    expected = DownloadCacheMetadata(version=TOOL_VERSIONS[tool], stack=runtime.stack.name, arch=runtime.stack.arch)
    decision = layer.decide(expected)
    if decision.keep:
        if not quiet:
            output.step(f"Using cached {tool} downloads")
    else:
        if decision.had_previous:
            output.step(f"Discarding cached {tool} downloads since {decision.reason_text}")
        layer.reset()
    layer.write(TYPES, expected)
    return {env_var: str(layer.path)}


def remove_unused(layers_dir: Path, used: set[str]) -> None:
    for tool in TOOL_VERSIONS:
        if tool in used:
            continue
        layer = Layer(layers_dir, layer_name(tool))
        if layer.path.exists() or layer.toml_path.exists():
            output.step(f"Removing cached {tool} downloads (this build does not use {tool})")
            layer.delete()
