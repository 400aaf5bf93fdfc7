"""The `venv` layer: the app's dependencies in a virtual environment (launch; build when a later
buildpack requires python).

The layer is the venv itself, made with the runtime's `python3 -m venv --without-pip`: its
`bin/` is first on PATH at launch (`venv` sorts after `python`) and in later build steps,
and VIRTUAL_ENV points at it. It links to the runtime layer only, never to a build-only one.

Reused as is while the Python version, stack, package manager and version, and the digests
of the dependency files are unchanged. When only the dependency files changed, a package
manager that can make the venv exactly match the new target set updates it in place (see
`dependencies.py`); any other change, or an update whose result does not verify, rebuilds it
from scratch, so that packages removed from the requirements never survive. The venv cannot be
built elsewhere and moved (scripts and pyvenv.cfg hold its absolute path), so a rebuild moves
the previous one aside, and an update first copies it aside; either puts it back, with its
metadata, if the install fails: the next build can still reuse it.

Not cached as such (caching/plan.py): its packed copy is, and a build unpacks it when a step
needs the files (an update in place, a hook, collectstatic); otherwise the exporter reuses the
previous image's layer (caching/on_demand.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import TypeGuard

from packaging.utils import canonicalize_name
from pydantic import Field

from .. import output
from ..caching import packed
from ..caching.on_demand import OnDemand
from ..caching.plan import CachePlan
from ..cnb.env import apply_layer
from ..cnb.layers import Empty, Layer, LayerDefinition, LayerMetadata, Restored
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..files import trees
from ..step_context import Context
from . import site_layers, venv_records
from .python import Runtime

# Saved with the packed copy: each distribution's `Requires-Dist` lines, so that an update can
# tell whether a frozen requirements file is closed (pip_freeze.py) before the copy is unpacked.
REQUIRES = "requires.json"
# Where a previous venv waits while its replacement is installed. No `.toml`, so a lifecycle
# ignores it; a leftover from an interrupted build is removed by the next one.
PREVIOUS = ".venv-previous"


class VenvMetadata(LayerMetadata):
    python_version: str = Field(title="the Python version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")
    package_manager: str = Field(title="the package manager")
    package_manager_version: str = Field(title="the package manager version")
    # Editable installs point into the app dir (constant on a platform: /workspace).
    app_dir: str = Field(title="the app directory")
    # Dependency files (relative path → sha256): requirements, locks, local packages.
    inputs: dict[str, str] = Field(title="the dependency files", json_schema_extra={"opaque": True})
    # BP_PYTHON_INSTALL_DEV_DEPENDENCIES; the default keeps venvs of older builds reusable.
    dev_dependencies: bool = Field(default=False, title="BP_PYTHON_INSTALL_DEV_DEPENDENCIES")
    # pip and uv-installed requirements.txt venvs: no pip of their own (pip_seed.py). Older
    # builds' venvs (the default) hold one, and are installed anew once.
    venv_pip: str = Field(default="installed in it", title="the venv's pip")

    def changes_from(self, old: LayerMetadata) -> list[str]:
        if not isinstance(old, VenvMetadata):
            return super().changes_from(old)
        reasons = super(VenvMetadata, self.model_copy(update={"inputs": old.inputs})).changes_from(old)
        if self.package_manager != old.package_manager:
            return reasons  # every file differs: the manager change says it all
        for name in sorted(self.inputs.keys() | old.inputs.keys()):
            if name not in old.inputs:
                reasons.append(f"{name} was added")
            elif name not in self.inputs:
                reasons.append(f"{name} was removed")
            elif self.inputs[name] != old.inputs[name]:
                reasons.append(f"{name} changed")
        return reasons


def _complete(path: Path) -> str | None:
    if not (path / "bin" / "python").exists() or (path / site_layers.STUBS_ONLY).exists():
        return "its files are incomplete"
    return None


LAYER = LayerDefinition("venv", LayerTypes(launch=True), VenvMetadata, _complete, image_reuse=True)
LAYER_NAME = LAYER.name


@dataclass
class Venv:
    """The app's venv: its files (maybe still to be unpacked) and what they were made from."""

    files: OnDemand
    metadata: VenvMetadata
    # Updated as a venv of stubs: its distributions not updated stay in their site layers.
    stubs: site_layers.Stubs | None = None

    @property
    def path(self) -> Path:
        return self.files.path


def open_venv(layers_dir: Path, expected: VenvMetadata,
              plan: CachePlan) -> Restored[VenvMetadata] | Empty[VenvMetadata]:  # fmt: skip
    """The venv layer as restored; a leftover of an interrupted build's rollback is removed first."""
    _remove(layers_dir / PREVIOUS)
    _remove(layers_dir / venv_records.ASIDE)
    opened = LAYER.open(layers_dir, expected, plan.launch_types)
    if isinstance(opened, Restored) and opened.files:
        _write_env(opened.layer)
    return opened


def reused(opened: Restored[VenvMetadata], layers_dir: Path) -> Venv:
    """The reused venv, its files there or obtainable from its packed copy (`obtainable`)."""
    if opened.files:
        return Venv(OnDemand.present(opened.layer), opened.metadata)
    copy = packed.find(LAYER, layers_dir, opened.metadata)

    def unpack() -> None:
        if copy is None:  # the plan had no step needing the files: one asking for them is a bug
            raise BuildError("Internal error: the dependencies' files were needed but are not cached",
                             "This is a bug in scalingo/python. Building again with a cleared cache works around it.")
        with output.timed("Unpacking cached dependencies"):
            packed.unpack(copy, opened.layer.path)

    return Venv(OnDemand(opened.layer, in_image=True, obtain=unpack), opened.metadata)


def start_obtaining(venv: Venv, layers_dir: Path) -> None:
    """Starts unpacking the reused venv's copy in the background: `obtain_now` has the files."""
    copy = packed.find(LAYER, layers_dir, venv.metadata)
    if venv.files.has_files or copy is None or site_layers.previous_names(layers_dir):
        return
    unpacking = packed.Unpacking(copy, venv.path)

    def obtain() -> None:
        output.step(f"Unpacked cached dependencies ({output.format_duration(unpacking.wait())})")

    venv.files.obtain = obtain


def obtain_now(venv: Venv, env: dict[str, str], layers_dir: Path) -> str:
    """The reused venv's files now, for a build whose steps run Python; why they cannot be
    had ("" when they are there), in which case the venv is installed again."""
    if not venv.files.has_files and packed.find(LAYER, layers_dir, venv.metadata) is None:
        return "its packed copy is not in the cache"
    if not venv.files.has_files and site_layers.previous_names(layers_dir):
        return "it is exported as several layers, which are never put back whole for a step that runs Python"
    try:
        venv.files.need(env)
    except BuildError as error:
        packed.drop(LAYER, layers_dir)
        return f"its packed copy could not be unpacked: {error.details}"
    return ""


def from_copy(empty: Empty[VenvMetadata]) -> Venv | None:
    """The venv unpacked from its packed copy, when that is the venv this build needs but the
    previous image does not have it (lost, or its metadata unreadable)."""
    layer = empty.layer
    copy = packed.find(LAYER, layer.layers_dir, empty.expected)
    if copy is None:
        return None
    try:
        with output.timed("Unpacking cached dependencies"):
            packed.unpack(copy, layer.reset())
            missing = site_layers.unpack_all(layer.path, layer.layers_dir, site_base(empty.expected), empty.types) \
                if site_layers.is_split(layer.path) else ""  # fmt: skip
    except BuildError as error:
        _discard_copy(layer.layers_dir, error)
        return None
    if missing:
        output.step(f"Discarding their cached copy since {missing}")
        layer.delete()
        packed.drop(LAYER, layer.layers_dir)
        return None
    _keep(empty)
    return Venv(OnDemand.unpacked(layer), empty.expected)


def start_unpack_previous(empty: Empty[VenvMetadata]) -> packed.Unpacking | None:
    """Starts unpacking the previous venv's copy, for an update in place (`unpack_previous`):
    its records first, when it was packed so (venv_records.py)."""
    layer = empty.layer
    if layer.path.is_dir() or empty.previous is None:
        return None
    copy = packed.find(LAYER, layer.layers_dir, empty.previous)
    if copy is None:
        return None
    # A split venv's stubs too: extracting them after the runtime came took 0.7 s (site_layers.py).
    stubs = packed.extra_file(LAYER, layer.layers_dir, empty.previous, site_layers.STUBS)
    return packed.Unpacking(copy, layer.path, (stubs, layer.path / site_layers.STAGING) if stubs else None,
                            rest=(layer.layers_dir / venv_records.ASIDE, venv_records.is_record))  # fmt: skip


def unpack_previous(empty: Empty[VenvMetadata], unpacking: packed.Unpacking | None) -> bool:
    """The previous venv's records, for an update in place: whether they are there. Its other
    files may still be coming (`unpack_rest`)."""
    layer = empty.layer
    if unpacking is None:
        return layer.path.is_dir()
    try:
        unpacking.wait_first()
        if unpacking.rest is not None:
            output.step("Updating from the cached dependencies' records while their files unpack")
            return True
        output.step(f"Unpacked the cached dependencies ({output.format_duration(unpacking.wait())})")
    except BuildError as error:
        _discard_copy(layer.layers_dir, error)
        return False
    return True


def unpack_rest(empty: Empty[VenvMetadata], unpacking: packed.Unpacking | None, before: Path | None = None) -> bool:
    """The previous venv's files that were unpacked beside it (venv_records.py), moved in: all
    of them, or with `before` (its records before an update) those of the distributions the
    update left as they were. False: the copy was damaged (said, and dropped), the files missing."""
    if unpacking is None or unpacking.rest is None:
        return True
    aside, unpacking.rest = unpacking.rest, None
    try:
        seconds = unpacking.wait()
    except BuildError as error:
        trees.remove_later(aside)
        _discard_copy(empty.layer.layers_dir, error)
        return False
    output.step(f"Unpacked the cached dependencies ({output.format_duration(seconds)})")
    venv_records.merge(empty.layer.path, before or empty.layer.path, aside)
    return True


def unpack_whole(empty: Empty[VenvMetadata], unpacking: packed.Unpacking | None) -> bool:
    """The previous venv's files, all of them: whether they are there."""
    return unpack_previous(empty, unpacking) and unpack_rest(empty, unpacking)


def _discard_copy(layers_dir: Path, error: BuildError) -> None:
    """A damaged packed copy: said, and dropped, so that this build installs the venv again."""
    output.step(f"Discarding their cached copy since it could not be unpacked: {error.details}")
    packed.drop(LAYER, layers_dir)


def site_base(metadata: VenvMetadata) -> site_layers.SiteMetadata:
    """What the venv's site layers are made for (their distributions aside)."""
    return site_layers.SiteMetadata(python_version=metadata.python_version, stack=metadata.stack,
                                    arch=metadata.arch, app_dir=metadata.app_dir, dists={})  # fmt: skip


def stubs_for_update(layers_dir: Path, empty: Empty[VenvMetadata], plan: CachePlan,
                     layout: str) -> site_layers.Stubs | str | None:  # fmt: skip
    """For an update of a split venv (its own layer's files unpacked): the venv of stubs to
    update (site_layers.py); why it cannot be updated; None when it is not split."""
    if not site_layers.is_split(empty.layer.path):
        return None
    if layout == "single":
        return f"{site_layers.SETTING}=single asks for one layer"
    if plan.runs_python or plan.later_buildpack:
        return "they are exported as several layers, which are never put back whole for a step that runs Python"
    assert empty.previous is not None
    archive = packed.extra_file(LAYER, layers_dir, empty.previous, site_layers.STUBS)
    return site_layers.place_stubs(empty.layer.path, layers_dir, archive, site_base(empty.expected))


def finish(layers_dir: Path, venv: Venv, plan: CachePlan, layout: str) -> None:
    """Before the export: the site layers and the packed copy for the next build (packed again
    when the files changed), and the files given up when they are the previous image's layer.
    `layout`: BP_PYTHON_VENV_LAYERS (site_layers.py)."""
    if venv.files.modified():
        if venv.stubs is None:  # changed whole (a hook's install into a venv unpacked with its layers)
            site_layers.merge_back(venv.path, layers_dir)
        # Read before the site layers take the distributions out of the venv.
        extra = {REQUIRES: layers_dir / f".{REQUIRES}"}
        extra[REQUIRES].write_text(json.dumps(requirements(venv.path), sort_keys=True), encoding="utf-8")
        python_steps = bool(plan.runs_python) or plan.later_buildpack
        first = None
        if venv.stubs is not None or site_layers.wanted(venv.path, layout, python_steps):
            base = site_base(venv.metadata)
            extra[site_layers.STUBS] = site_layers.split(venv.path, layers_dir, base, plan.launch_types, venv.stubs)
        else:
            site_layers.remove_all(layers_dir)
            first = venv_records.is_record  # an update starts from the records (venv_records.py)
        with output.timed("Packing the dependencies for the next build"):
            packed.save(LAYER, layers_dir, venv.path, venv.metadata, extra, first)
    else:
        site_layers.keep_all(layers_dir, site_base(venv.metadata), plan.launch_types)
        kept = packed.keep(LAYER, layers_dir, venv.metadata)
        if not kept and venv.files.has_files:
            packed.save(LAYER, layers_dir, venv.path, venv.metadata)
        elif not kept:  # a stale or unreadable copy: the next build that needs the files installs them
            packed.drop(LAYER, layers_dir)
    if not plan.later_buildpack:
        venv.files.release()


def requirements(venv: Path) -> dict[str, list[str]]:
    """Each installed distribution's `Requires-Dist` lines, by canonical name."""
    found: dict[str, list[str]] = {}
    for path in sorted(venv.glob("lib/python3*/site-packages/*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(path.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        if headers["Name"]:
            found[canonicalize_name(headers["Name"])] = headers.get_all("Requires-Dist") or []
    return found


def recorded_requirements(empty: Empty[VenvMetadata]) -> dict[str, list[str]] | None:
    """`requirements` of the previous venv, as saved with its packed copy (None: not saved, as
    by builds before the record, or unreadable)."""
    if empty.previous is None:
        return None
    path = packed.extra_file(LAYER, empty.layer.layers_dir, empty.previous, REQUIRES)
    try:
        record = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
    except (OSError, ValueError):
        return None
    valid = isinstance(record, dict) and all(
        isinstance(lines, list) and all(isinstance(line, str) for line in lines) for lines in record.values()
    )
    return record if valid else None


def only_inputs_changed(empty: Empty[VenvMetadata]) -> bool:
    """Whether only the dependency files changed: the previous venv is then a fine start."""
    return _only_inputs_differ(empty.previous, empty.expected)


def _only_inputs_differ(previous: VenvMetadata | None, expected: VenvMetadata) -> TypeGuard[VenvMetadata]:
    return previous is not None and previous.model_copy(update={"inputs": expected.inputs}) == expected


def can_update(empty: Empty[VenvMetadata]) -> bool:
    """Whether the previous venv can be updated in place: only the dependency files changed and
    its files are there (`unpack_previous`)."""
    return only_inputs_changed(empty) and _complete(empty.layer.path) is None


def update(empty: Empty[VenvMetadata], update: Callable[[Path], bool],
           unpacking: packed.Unpacking | None = None) -> bool:  # fmt: skip
    """Updates the venv in place with `update`, which says whether the result verified.
    `unpacking`: the previous venv's files still coming beside it (`unpack_rest`).

    A copy of the previous venv waits aside: it is put back, with its metadata, when
    `update` fails (the error goes on) or returns False (the caller then rebuilds).
    """
    layer = empty.layer
    previous = layer.layers_dir / PREVIOUS
    old_toml = layer.toml_path.read_bytes()
    _remove(previous)
    # Hard links: pip never rewrites an installed file in place (uninstalled files are moved
    # away, a file is unlinked before it is written, metadata and byte-code are written to a
    # temporary file and renamed), nor does uv (with UV_LINK_MODE=copy it writes every file,
    # RECORD, script and byte-code under a temporary name and renames it, even over a file no
    # RECORD lists, and unlinks what it uninstalls; it opens `.lock` for writing only to lock
    # it: package_managers/uv_update.py), so the copy stays intact without copying any data.
    trees.link_copy(layer.path, previous)
    layer.toml_path.unlink()
    records_only = unpacking is not None and unpacking.rest is not None
    try:
        verified = update(layer.path) and unpack_rest(empty, unpacking, previous)
    except BaseException:
        _put_back(layer, old_toml)
        _whole_again(empty, unpacking, records_only)
        raise
    if not verified:
        _put_back(layer, old_toml)
        _whole_again(empty, unpacking, records_only)
        return False
    trees.remove_later(previous)  # the rest of the build need not wait for 9,000 unlinks
    _keep(empty)
    return True


def _whole_again(empty: Empty[VenvMetadata], unpacking: packed.Unpacking | None, records_only: bool) -> None:
    """After the records were put back: the previous venv whole again, its other files moved in;
    or no venv at all when they cannot be (a damaged copy, a failed merge), never its records
    alone, which a platform keeping the layers dir would reuse."""
    if not records_only:
        return
    if unpacking is not None and unpacking.rest is not None and unpack_rest(empty, unpacking):
        return
    empty.layer.delete()


def rebuild(ctx: Context, env: Mapping[str, str], empty: Empty[VenvMetadata], runtime: Runtime,
            install: Callable[[Path], None]) -> None:  # fmt: skip
    """A fresh venv filled by `install`; on failure the previous layer is put back."""
    layer = empty.layer
    previous = layer.layers_dir / PREVIOUS
    old_toml = layer.toml_path.read_bytes() if layer.toml_path.is_file() else None
    had_dir = layer.path.is_dir()
    if had_dir:
        layer.path.rename(previous)
    else:
        _remove(layer.path)
    layer.toml_path.unlink(missing_ok=True)
    try:
        _create(ctx, env, layer, runtime)
        install(layer.path)
    except BaseException:
        _remove(layer.path)
        if had_dir:
            previous.rename(layer.path)
        if old_toml is not None:
            layer.toml_path.write_bytes(old_toml)
        raise
    if had_dir:
        trees.remove_later(previous)
    _keep(empty)


def activate(env: dict[str, str], layers_dir: Path) -> Path:
    """`env` with the venv active, as in every step after the install and at launch."""
    path = LAYER.layer(layers_dir).path
    apply_layer(env, path)
    return path


def _put_back(layer: Layer, old_toml: bytes) -> None:
    _remove(layer.path)
    (layer.layers_dir / PREVIOUS).rename(layer.path)
    layer.toml_path.write_bytes(old_toml)


def _keep(empty: Empty[VenvMetadata]) -> None:
    empty.layer.write(empty.types, empty.expected)
    _write_env(empty.layer)


def _create(ctx: Context, env: Mapping[str, str], layer: Layer, runtime: Runtime) -> None:
    # Symlinks to the runtime's python: the runtime layer is at the same path at launch.
    cmd: list[str | Path] = [runtime.python, "-m", "venv", "--without-pip", layer.path]
    result = ctx.run(cmd, env, layer.layers_dir, echo=None)
    if result.returncode != 0:
        raise BuildError(
            f"Could not create a virtual environment with Python {runtime.version}",
            f"`python3 -m venv` failed with exit status {result.returncode}. The Python runtime "
            "may be damaged: clear the app's build cache and build again.",
            output=result.tail(),
        )
    _write_env(layer)


def _write_env(layer: Layer) -> None:
    # Later build steps and the launched app: the venv's bin/ is added to PATH by the
    # lifecycle; VIRTUAL_ENV tells tools (and apps) which environment is active.
    # Restored files may be hard links into the cache: replace, never rewrite in place.
    for name, value in (("VIRTUAL_ENV.override", str(layer.path)), ("PIP_REQUIRE_VIRTUALENV.default", "1")):
        current = layer.path / "env" / name
        if not (current.is_file() and current.read_text(encoding="utf-8") == value):
            current.unlink(missing_ok=True)
            current.parent.mkdir(parents=True, exist_ok=True)
            current.write_text(value, encoding="utf-8")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
