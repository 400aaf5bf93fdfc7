"""The `<tool>-cache` layers: each installer's download cache (build, cache).

Reused while the tool's pinned version and the stack are unchanged. A user setting for the
cache directory (PIP_CACHE_DIR, PIPENV_CACHE_DIR, POETRY_CACHE_DIR, UV_CACHE_DIR) wins: the
installer uses that directory (a platform may share one cache between apps) and the layer is
dropped. After each install, the layer's metadata records the venv's releases and what the
last installs did not use is pruned (caching/pruning.py), so that drifting pins do not make
the cache grow without bound; a user's own cache directory is never pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from .. import output
from ..caching import pruning
from ..cnb.layers import LayerDefinition, LayerMetadata, Restored
from ..cnb.models import LayerTypes
from ..process import Command
from ..step_context import Context
from ..tool_versions import TOOL_VERSIONS, Tool
from .python import Runtime

TYPES = LayerTypes(build=True, cache=True)


class DownloadCacheMetadata(LayerMetadata):
    version: str = Field(title="the installer version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")
    # Not a reuse key: carried over from the restored metadata, rewritten by record_install.
    installs: list[dict[str, str]] = Field(default_factory=list, title="the releases of the last installs")


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
    previous = definition.previous(ctx.layers_dir)
    expected = DownloadCacheMetadata(
        version=TOOL_VERSIONS[tool],
        stack=runtime.stack.name,
        arch=runtime.stack.arch,
        installs=previous.installs if previous is not None else [],
    )
    opened = definition.open(ctx.layers_dir, expected)
    if isinstance(opened, Restored):
        if not quiet:
            output.step(f"Using cached {tool} downloads")
        path = opened.layer.path
    else:
        if opened.reason:
            output.step(f"Discarding cached {tool} downloads since {opened.reason}")
        with opened.fill() as filling:  # filled by the installer, as it goes
            filling.metadata = expected.model_copy(update={"installs": []})
            path = filling.path
    env[env_var] = str(path)


def remove_unused(layers_dir: Path, used: set[str]) -> None:
    for tool in TOOL_VERSIONS:
        if tool not in used and LAYERS[tool].remove(layers_dir):
            output.step(f"Removing cached {tool} downloads (this build does not use {tool})")


def record_install(
    ctx: Context, tool: Tool, releases: Mapping[str, str], own_pruning: Command | None = None,
    env: Mapping[str, str] | None = None,
) -> None:  # fmt: skip
    """After an install into the venv (`releases`: its distributions, name → version): runs the
    tool's own pruning (`own_pruning`, in `env`), remembers the releases and prunes the cache
    entries that none of the last installs used."""
    definition = LAYERS[tool]
    layer = definition.layer(ctx.layers_dir)
    previous = definition.previous(ctx.layers_dir)
    if previous is None or not layer.path.is_dir():
        return  # the user's own cache directory (PIP_CACHE_DIR, ...): not ours to prune
    if own_pruning is not None:
        _prune_with_tool(ctx, tool, own_pruning, env or {})
    installs = pruning.recent(releases, previous.installs)
    stale = pruning.stale(pruning.scan(tool, layer.path), installs)
    if stale:
        freed = pruning.remove(layer.path, stale)
        labels = sorted(entry.label for entry in stale)
        shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
        reason = f"none of the last {len(installs)} installs used them" if len(installs) > 1 else "the install did not"
        output.step(f"Pruned cached {tool} downloads of {shown} ({freed / 1e6:.1f} MB) since {reason}")
    layer.write(TYPES, previous.model_copy(update={"installs": installs}))


def _prune_with_tool(ctx: Context, tool: Tool, command: Command, env: Mapping[str, str]) -> None:
    """The tool's own pruning; a failure keeps the cache whole (it is pruned after the next install)."""
    shown = " ".join([Path(command[0]).name, *map(str, command[1:])])
    try:
        result = ctx.run(command, env, ctx.app_dir, echo=None)
    except OSError as error:
        result = None
        failure = f"it could not start ({error.strerror or error})"
    if result is not None and result.returncode != 0:
        failure = f"it failed with exit status {result.returncode}:\n{result.tail()}"
    if result is None or result.returncode != 0:
        output.warning(
            f"Could not prune cached {tool} downloads",
            f"`{shown}` was run after the install and {failure}\nThe cache is kept whole and is pruned "
            "after the next install.",
        )
        return
    removed = result.matches(r"Removed (\d+ files?) \(([^)]+)\)")
    if removed:  # what the tool says it removed: walking the cache to measure it would cost more
        output.step(
            f"Pruned cached {tool} downloads ({removed.group(1)}, {removed.group(2)}; `{shown}`) since a "
            "later download costs less than restoring them at every build"
        )
