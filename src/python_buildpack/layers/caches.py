"""The `<tool>-cache` layers: each installer's download cache (build, cache).

Reused while the tool's pinned version and the stack are unchanged. A user setting for the
cache directory (PIP_CACHE_DIR, PIPENV_CACHE_DIR, POETRY_CACHE_DIR, UV_CACHE_DIR) wins: the
installer uses that directory (a platform may share one cache between apps) and the layer is
dropped.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .. import output
from ..cnb.layers import LayerDefinition, LayerMetadata, Restored
from ..cnb.models import LayerTypes
from ..context import Context
from ..tool_versions import TOOL_VERSIONS, Tool
from .python import Runtime

TYPES = LayerTypes(build=True, cache=True)


class DownloadCacheMetadata(LayerMetadata):
    version: str = Field(title="the installer version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")


def layer_name(tool: Tool) -> str:
    return f"{tool}-cache"


LAYERS = {tool: LayerDefinition(layer_name(tool), TYPES, DownloadCacheMetadata) for tool in TOOL_VERSIONS}


def install(
    ctx: Context, env: dict[str, str], tool: Tool, env_var: str, runtime: Runtime, *, quiet: bool = False
) -> None:
    """The installer's download cache: our layer in `env[env_var]`, unless the user set their own."""
    definition = LAYERS[tool]
    if ctx.settings.get(env_var):
        definition.layer(ctx.layers_dir).delete()
        if not quiet:
            output.step(f"Download cache: {ctx.settings[env_var]} ({env_var} from the app's environment)")
        return
    expected = DownloadCacheMetadata(version=TOOL_VERSIONS[tool], stack=runtime.stack.name, arch=runtime.stack.arch)
    opened = definition.open(ctx.layers_dir, expected)
    if isinstance(opened, Restored):
        if not quiet:
            output.step(f"Using cached {tool} downloads")
        path = opened.layer.path
    else:
        if opened.reason:
            output.step(f"Discarding cached {tool} downloads since {opened.reason}")
        with opened.fill() as filling:  # filled by the installer, as it goes
            path = filling.path
    env[env_var] = str(path)


def remove_unused(layers_dir: Path, used: set[str]) -> None:
    for tool in TOOL_VERSIONS:
        if tool not in used and LAYERS[tool].remove(layers_dir):
            output.step(f"Removing cached {tool} downloads (this build does not use {tool})")
