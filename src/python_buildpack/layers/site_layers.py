"""Site layers: a large venv's distributions exported as several launch layers (`site-*`).

As one layer, a venv costs a changed build all of its files twice: unpacked from its packed
copy so that the installer can update it, then tarred again by the exporter (a 500 MB venv:
tens of thousands of files, some twenty seconds on a small machine, for an update of a few).
So at the end of a build that installed, a large venv's distributions move into layers of
their own, each holding one site directory (`<layer>/site-packages`) that the venv adds with a
`.pth` file (`site.addsitedir`, so their own `.pth` files still work):

- a distribution of 8 MB or more gets a layer to itself (`site-pkg-<name>`, the 12 largest),
- the others share 6 layers by a hash of their name (`site-<n>`),
- distributions sharing a top-level entry (a namespace package) share a layer,
- a new version goes where the old one was.

The venv's own layer keeps the rest (bin/, pyvenv.cfg, the `.pth`), and its packed copy also
holds every distribution's `.dist-info` (`STUBS`). A changed build updates a venv of stubs:
that layer and the `.dist-info` directories without the files. pip and uv update it by the
metadata (uninstalling skips files that are not there), and at the end each stub still as it
was is a distribution left alone. A layer none of whose distributions changed stays the
previous image's, reused by the exporter unread; a changed one is unpacked from its own packed
copy, changed, and packed again. A layer of one large distribution has no copy (`_has_copy`):
its change replaces it whole, and the rare build that needs its files installs the venv again.

Only for builds whose steps never run the venv's Python besides the install (no hook,
collectstatic, nltk.txt or later buildpack: caching/plan.py): such a step gets a split venv's
layers unpacked as they are while the dependencies are unchanged (`unpack_all`), and the next
change installs the venv whole again. And only for large venvs: a small one (a Flask app's
19 MB) builds slower split, since its unpacking and export cost less than packing several
layers and fetching the pip layer (benchmarks/RESULTS.md). `BP_PYTHON_VENV_LAYERS`: `auto`
(split from 100 MB of distributions), `split`, `single`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from pydantic import Field

from .. import output
from ..caching import packed
from ..cnb.layers import Layer, LayerDefinition, LayerMetadata
from ..cnb.models import LayerTypes
from ..errors import BuildError

SETTING = "BP_PYTHON_VENV_LAYERS"
MODES = ("auto", "split", "single")
PREFIX = "site-"
SITE = "site-packages"
PTH = "zz-site-layers.pth"  # sorted after the distributions' own .pth files
STUBS = "dist-info.tar.zst"
STAGING = ".stubs"  # in the venv, `STUBS` extracted before its `.dist-info` go into site-packages
# In a venv of stubs, or one being split, until its distributions are in their layers: such a
# venv, left by a failed build in a layers dir a platform keeps, is never reused.
STUBS_ONLY = ".dist-info-only"
SPLIT_MIN_BYTES = 100 * 2**20
OWN_LAYER_BYTES = 8 * 2**20
MAX_OWN_LAYERS = 12
BUCKETS = 6


class SiteMetadata(LayerMetadata):
    python_version: str = Field(title="the Python version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")
    app_dir: str = Field(title="the app directory")
    # `.dist-info` directory → sha256 of its RECORD.
    dists: dict[str, str] = Field(title="the distributions", json_schema_extra={"opaque": True})

    def same_venv(self, other: SiteMetadata) -> bool:
        return self.model_copy(update={"dists": other.dists}) == other


def _has_site(path: Path) -> str | None:
    return None if (path / SITE).is_dir() else "its files are incomplete"


def definition(name: str, types: LayerTypes | None = None) -> LayerDefinition[SiteMetadata]:
    return LayerDefinition(name, types or LayerTypes(launch=True), SiteMetadata, _has_site, image_reuse=True)


def mode(settings: Mapping[str, str]) -> str:
    value = settings.get(SETTING, "").strip().lower() or "auto"
    if value not in MODES:
        raise BuildError(
            f"Invalid {SETTING}: {value[:80]!r}",
            f"{SETTING} must be auto (the default: a venv of 100 MB or more is exported as several "
            "layers, so that a changed package rewrites only its own), split (whatever the size) or "
            "single (one layer).",
        )
    return value


@dataclass(frozen=True)
class Dist:
    """An installed distribution as its RECORD lists it."""

    info: str  # its `.dist-info` directory
    name: str  # canonical project name
    record: str  # sha256 of RECORD
    files: tuple[str, ...]  # paths inside site-packages (scripts in bin/ stay in the venv's layer)
    entries: frozenset[str]  # top-level names it owns in site-packages ("__pycache__/<file>" for those)
    size: int


def _entry(path: str) -> str:
    head, _, rest = path.partition("/")
    return f"{head}/{rest.partition('/')[0]}" if head == "__pycache__" else head


def read_dist(info: Path) -> Dist:
    try:
        data = (info / "RECORD").read_bytes()
    except OSError:
        data = b""
    files, size = [], 0
    for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))):
        if not row or not row[0] or row[0].startswith("/") or ".." in row[0].split("/"):
            continue
        files.append(row[0])
        if len(row) > 2 and row[2].isdigit():
            size += int(row[2])
    name = canonicalize_name(info.name.removesuffix(".dist-info").rpartition("-")[0] or info.name)
    entries = frozenset({_entry(path) for path in files} | {info.name})
    return Dist(info.name, name, hashlib.sha256(data).hexdigest(), tuple(files), entries, size)


def scan(site: Path) -> dict[str, Dist]:
    return {info.name: read_dist(info) for info in sorted(site.glob("*.dist-info")) if info.is_dir()}


def site_dir(venv: Path) -> Path | None:
    return next(iter(sorted(venv.glob(f"lib/python3*/{SITE}"))), None)


def is_split(venv: Path) -> bool:
    site = site_dir(venv)
    return site is not None and (site / PTH).is_file()


def previous_names(layers_dir: Path) -> list[str]:
    """The site layers the analyzer or restorer brought back (their metadata)."""
    return sorted(p.stem for p in layers_dir.glob(f"{PREFIX}*.toml") if not p.stem.endswith("-packed"))


def _previous(layers_dir: Path, base: SiteMetadata) -> dict[str, SiteMetadata]:
    found = {}
    for name in previous_names(layers_dir):
        metadata = definition(name).previous(layers_dir)
        if metadata is not None and metadata.same_venv(base):
            found[name] = metadata
    return found


@dataclass
class Stubs:
    """A split venv laid out for an update: its distributions as `.dist-info` directories only."""

    layers: dict[str, SiteMetadata]  # the previous site layers
    dists: dict[str, Dist]  # the stubs as placed
    layer_of: dict[str, str] = field(default_factory=dict)  # `.dist-info` → its layer


def place_stubs(venv: Path, layers_dir: Path, archive: Path | None, base: SiteMetadata) -> Stubs | str:
    """The split venv `venv` (its own layer's files) made updatable: the `.pth` removed and
    every distribution's `.dist-info` put back from `archive`; why not, when it cannot be."""
    from ..files.tar_zst import extract_tar_zst

    site = site_dir(venv)
    if site is None or archive is None or not archive.is_file():
        return "the record of its distributions is not in the cache"
    layers = _previous(layers_dir, base)
    layer_of = {info: name for name, metadata in layers.items() for info in metadata.dists}
    staging = venv / STAGING
    try:
        if not staging.is_dir():  # not extracted ahead, with the venv's own files (layers/venv.py)
            extract_tar_zst(archive, staging, links_outside=False)
    except BuildError as error:
        return f"the record of its distributions could not be unpacked: {error.title}"
    for info in staging.iterdir():
        os.replace(info, site / info.name)
    staging.rmdir()
    dists = scan(site)
    if set(dists) != set(layer_of) or any(layers[layer_of[i]].dists[i] != d.record for i, d in dists.items()):
        return "the record of its distributions does not match its layers"
    (site / PTH).unlink()
    (venv / STUBS_ONLY).touch()
    return Stubs(layers, dists, layer_of)


def wanted(venv: Path, setting: str, python_steps: bool) -> bool:
    """Whether the venv (its files all there) is exported as site layers."""
    if setting == "single" or python_steps:
        return False
    site = site_dir(venv)
    if site is None:
        return False
    return setting == "split" or sum(d.size for d in scan(site).values()) >= SPLIT_MIN_BYTES


def split(venv: Path, layers_dir: Path, base: SiteMetadata, types: LayerTypes, stubs: Stubs | None) -> Path:
    """Moves the venv's distributions into site layers (`stubs`: those left as stubs by an
    update stay in their previous layer); returns the archive of their `.dist-info`
    directories, for the venv's packed copy."""
    from ..files.tar_zst import pack_tar_zst

    start = time.monotonic()
    site = site_dir(venv)
    assert site is not None
    (venv / STUBS_ONLY).touch()  # until the layout is whole: a split that fails midway is never reused
    dists = scan(site)
    record = layers_dir / f".{STUBS}"
    infos = [p.relative_to(site).as_posix() for d in dists for p in (site / d).rglob("*") if not p.is_dir()]
    pack_tar_zst(site, record, only=infos)

    previous = stubs.layers if stubs else _previous(layers_dir, base)
    layout = _layout(site, dists, stubs)
    kept, new, gone, assignment, final = layout.kept, layout.new, layout.gone, layout.assignment, layout.final
    for name in sorted(layout.changed):
        layer = Layer(layers_dir, name)
        staying = layout.staying(name)
        target = _layer_files(layer, previous.get(name), staying, stubs)
        for info in gone:
            if stubs and stubs.layer_of[info] == name:
                _remove_dist(target, stubs.dists[info], staying, stubs.dists)
        for info, dist in new.items():
            if assignment[info] == name:
                _move_in(site, target, dist)
        if name not in final:
            continue  # emptied: removed with its copy below, as the other layers no longer used
        metadata = base.model_copy(update={"dists": final[name]})
        layer.write(types, metadata)
        if _has_copy(name, final[name]):
            packed.save(definition(name), layers_dir, layer.path, metadata)
        else:
            packed.drop(definition(name), layers_dir)
    for info in kept:  # their files are in their layer: the stub goes
        shutil.rmtree(site / info)
    for name in sorted(final.keys() - layout.changed):  # unchanged: the previous image's layer
        definition(name, types).open(layers_dir, previous[name], types)
        packed.keep(definition(name), layers_dir, previous[name])
    _remove_except(layers_dir, set(final))
    (venv / STUBS_ONLY).unlink(missing_ok=True)
    lines = [f"import site; site.addsitedir({str(layers_dir / name / SITE)!r})\n" for name in sorted(final)]
    (site / PTH).write_text("".join(lines), encoding="utf-8")
    _log(final, layout.changed, dists, time.monotonic() - start)
    return record


@dataclass
class _Layout:
    """Where an update's distributions go: those left as stubs stay in their layer."""

    kept: dict[str, str]  # `.dist-info` left as a stub → its layer
    new: dict[str, Dist]  # installed (or installed again): moved into a layer
    gone: dict[str, Dist]  # the stubs of distributions no longer there
    assignment: dict[str, str]  # new `.dist-info` → its layer
    changed: set[str]  # the layers written again
    final: dict[str, dict[str, str]]  # layer → its `.dist-info` → sha256 of its RECORD

    def staying(self, name: str) -> set[str]:
        return {info for info, layer in self.kept.items() if layer == name}


def _layout(site: Path, dists: dict[str, Dist], stubs: Stubs | None) -> _Layout:
    kept: dict[str, str] = {}
    if stubs is not None:
        for info, dist in dists.items():
            old = stubs.dists.get(info)
            if old is not None and old.record == dist.record and not _has_files(site, dist):
                kept[info] = stubs.layer_of[info]
    new = {info: dist for info, dist in dists.items() if info not in kept}
    gone = {info: stubs.dists[info] for info in stubs.dists if info not in kept} if stubs else {}
    assignment = _assign(new, kept, gone, stubs)
    changed = set(assignment.values()) | ({stubs.layer_of[i] for i in gone} if stubs else set())
    final: dict[str, dict[str, str]] = {}
    for info, name in (kept | assignment).items():
        final.setdefault(name, {})[info] = dists[info].record
    return _Layout(kept, new, gone, assignment, changed, final)


def _has_copy(name: str, dists: Mapping[str, str]) -> bool:
    """Whether a site layer gets a packed copy. Not a layer of one large distribution: a change
    of it replaces the whole layer, so only a build that needs every file (a lost image, a step
    added that runs Python) would read the copy, and that build installs the venv again instead.
    Packing them cost the large app's cold build most of its 3 s of layout, and every later
    build restored them."""
    return not (name.startswith(f"{PREFIX}pkg-") and len(dists) == 1)


def unchangeable(venv: Path, layers_dir: Path, stubs: Stubs) -> str:
    """Why the updated venv of stubs cannot be laid out ("" when it can): a layer that keeps a
    distribution and gains another (one sharing its top-level package) needs its previous
    files, which only its packed copy has, and a layer of one distribution has none."""
    site = site_dir(venv)
    assert site is not None
    layout = _layout(site, scan(site), stubs)
    for name in sorted(layout.changed):
        staying = layout.staying(name)
        metadata = stubs.layers.get(name)
        if staying and (metadata is None or packed.find(definition(name), layers_dir, metadata) is None):
            joining = sorted(layout.new[i].name for i, n in layout.assignment.items() if n == name)
            if not joining:  # a copy lost otherwise: the layer still cannot be written again
                return f"layer {name} changes and its files are only in the previous image"
            return (f"{', '.join(joining)} shares a top-level package with the distribution of layer "
                    f"{name}, whose files are only in the previous image")
    return ""


def remove_all(layers_dir: Path) -> None:
    """No site layers (a venv exported whole, or none): those of an earlier build go."""
    _remove_except(layers_dir, set())


def _remove_except(layers_dir: Path, keep: set[str]) -> None:
    packed_names = {p.stem.removesuffix("-packed") for p in layers_dir.glob(f"{PREFIX}*-packed.toml")}
    for name in (set(previous_names(layers_dir)) | packed_names) - keep:
        definition(name).remove(layers_dir)
        packed.drop(definition(name), layers_dir)


def keep_all(layers_dir: Path, base: SiteMetadata, types: LayerTypes) -> None:
    """A reused split venv: its site layers kept as the previous image's (the lifecycle
    restores metadata without types)."""
    for name, metadata in _previous(layers_dir, base).items():
        definition(name, types).open(layers_dir, metadata, types)
        packed.keep(definition(name), layers_dir, metadata)


def unpack_all(venv: Path, layers_dir: Path, base: SiteMetadata, types: LayerTypes) -> str:
    """The split venv's site layers back from their packed copies, for a build whose previous
    image lacks them; why not ("" when done)."""
    layers = _previous_packed(layers_dir, base)
    site = site_dir(venv)
    wanted_names = _pth_layers(site) if site else None
    if wanted_names is None:
        return "its layers are not all in the cache"
    for name in wanted_names:
        copy = packed.find(definition(name), layers_dir, layers[name]) if name in layers else None
        if copy is None:
            return f"the files of its layer {name} are only in the previous image"
        layer = Layer(layers_dir, name)
        try:
            packed.unpack(copy, layer.reset())
        except BuildError as error:
            return error.details or error.title
        layer.write(types, layers[name])
    return ""


def layer_sites(venv: Path) -> list[Path]:
    """The site directories of a split venv's layers that are here (a venv just unpacked whole)."""
    site = site_dir(venv)
    names = _pth_layers(site) if site else None
    return [p for p in (venv.parent / name / SITE for name in names or ()) if p.is_dir()]


def merge_back(venv: Path, layers_dir: Path) -> None:
    """A split venv whose layers are all here (unpacked from their copies) made one again, for
    a build that changed it without an update from stubs (a hook's install): its layers go, and
    the next `split`, if any, starts afresh."""
    site = site_dir(venv)
    names = _pth_layers(site) if site else None
    if site is None or names is None:
        return
    missing = [name for name in names if not (layers_dir / name / SITE).is_dir()]
    if missing:
        raise BuildError(
            f"The dependencies' layers {', '.join(missing)} are missing",
            "The venv is split into several layers and a step changed it, but not all of them are "
            "here. Clear the app's build cache and build again.",
        )
    for name in names:
        for entry in list((layers_dir / name / SITE).iterdir()):
            _merge(entry, site / entry.name)
    (site / PTH).unlink()
    remove_all(layers_dir)


def _previous_packed(layers_dir: Path, base: SiteMetadata) -> dict[str, SiteMetadata]:
    found = {}
    for toml in layers_dir.glob(f"{PREFIX}*-packed.toml"):
        name = toml.stem.removesuffix("-packed")
        metadata = packed.previous(definition(name), layers_dir)
        if metadata is not None and metadata.same_venv(base):
            found[name] = metadata
    return found


def _pth_layers(site: Path) -> list[str] | None:
    try:
        text = (site / PTH).read_text(encoding="utf-8")
    except OSError:
        return None
    return [Path(line.split("'")[1]).parent.name for line in text.splitlines() if "'" in line]


def _has_files(site: Path, dist: Dist) -> bool:
    """Whether files of `dist` are in `site` (installed again), not only its stub. File by file
    where a top-level entry is there: a namespace directory may hold another distribution's."""
    present = {entry for entry in dist.entries if entry != dist.info and (site / entry).exists()}
    return any((site / path).exists() for path in dist.files if _entry(path) in present)


def _assign(new: dict[str, Dist], kept: dict[str, str], gone: dict[str, Dist], stubs: Stubs | None) -> dict[str, str]:
    """The layer of each new distribution."""
    owner: dict[str, str] = {}  # top-level entry → layer, of the distributions that stay
    if stubs is not None:
        for info, layer in kept.items():
            for entry in stubs.dists[info].entries:
                owner[entry] = layer
    was = {dist.name: stubs.layer_of[info] for info, dist in gone.items()} if stubs else {}
    assignment: dict[str, str] = {}
    groups = _groups(new)
    own = sorted((g for g in groups if sum(new[i].size for i in g) >= OWN_LAYER_BYTES),
                 key=lambda g: -sum(new[i].size for i in g))[:MAX_OWN_LAYERS]  # fmt: skip
    own_ids = {id(g) for g in own}
    for group in groups:
        entries = {e for info in group for e in new[info].entries}
        name: str | None = next((owner[e] for e in sorted(entries) if e in owner), None)
        name = name or next((was[new[i].name] for i in group if new[i].name in was), None)
        if not name:
            largest = max(group, key=lambda i: (new[i].size, i))
            if id(group) in own_ids:
                name = f"{PREFIX}pkg-{new[largest].name}".removesuffix("-packed")  # not a packed copy's name
            else:
                key = min(new[i].name for i in group)
                name = f"{PREFIX}{int(hashlib.sha256(key.encode()).hexdigest(), 16) % BUCKETS}"
        for info in group:
            assignment[info] = name
    return assignment


def _groups(dists: dict[str, Dist]) -> list[list[str]]:
    """The distributions linked by a shared top-level entry."""
    parent = {info: info for info in dists}

    def root(info: str) -> str:
        while parent[info] != info:
            parent[info] = parent[parent[info]]
            info = parent[info]
        return info

    first: dict[str, str] = {}
    for info, dist in dists.items():
        for entry in dist.entries:
            if entry in first:
                parent[root(info)] = root(first[entry])
            else:
                first[entry] = info
    groups: dict[str, list[str]] = {}
    for info in dists:
        groups.setdefault(root(info), []).append(info)
    return [sorted(group) for group in groups.values()]


def _layer_files(layer: Layer, metadata: SiteMetadata | None, staying: set[str], stubs: Stubs | None) -> Path:
    """The layer's site directory to change: its previous files when distributions stay in it."""
    if staying and not (layer.path / SITE).is_dir():
        copy = packed.find(definition(layer.name), layer.layers_dir, metadata) if metadata else None
        if copy is None:
            raise BuildError(
                f"The cached layer {layer.name} is missing",
                "The dependencies' record says it is cached, but it was not restored. Clear the app's "
                "build cache and build again.",
            )
        with output.timed(f"Unpacking {layer.name} to change it"):
            packed.unpack(copy, layer.reset())
    elif not staying:
        layer.reset()
    target = layer.path / SITE
    target.mkdir(parents=True, exist_ok=True)
    return target


def _remove_dist(site: Path, dist: Dist, staying: set[str], dists: Mapping[str, Dist]) -> None:
    shared = {e for info in staying for e in dists[info].entries}
    for entry in dist.entries - shared:
        _delete(site / entry)
        for pyc in _module_pycs(site, entry):
            pyc.unlink()
    for path in dist.files:
        if _entry(path) in shared:
            file = site / path
            file.unlink(missing_ok=True)
            if file.suffix == ".py":
                for pyc in file.parent.glob(f"__pycache__/{file.stem}.*.pyc"):
                    pyc.unlink()
    for entry in {e.partition("/")[0] for e in dist.entries} | {"__pycache__"}:
        _prune_empty(site / entry)


def _prune_empty(path: Path) -> None:
    """Removes the directories left empty under `path`, and `path` itself if it is one."""
    if not path.is_dir() or path.is_symlink():
        return
    for child in path.iterdir():
        _prune_empty(child)
    if not any(path.iterdir()):
        path.rmdir()


def _move_in(site: Path, target: Path, dist: Dist) -> None:
    for entry in sorted(dist.entries):
        source = site / entry
        if source.exists() or source.is_symlink():
            _merge(source, target / entry)
        for pyc in _module_pycs(site, entry):
            _merge(pyc, target / "__pycache__" / pyc.name)
    pycache = site / "__pycache__"
    if pycache.is_dir() and not any(pycache.iterdir()):
        pycache.rmdir()


def _module_pycs(site: Path, entry: str) -> Iterable[Path]:
    """A top-level module's byte-code, which its RECORD may not list (compiled after the install)."""
    if "/" in entry or not entry.endswith(".py"):
        return []
    return list(site.glob(f"__pycache__/{entry[:-3]}.*.pyc"))


def _merge(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink() and target.is_dir() and not target.is_symlink():
        for child in list(source.iterdir()):
            _merge(child, target / child.name)
        source.rmdir()
        return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(source, target)


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _log(final: Mapping[str, Mapping[str, str]], changed: set[str], dists: Mapping[str, Dist], seconds: float) -> None:
    written = sorted(name for name in changed if name in final)
    size = sum(dists[i].size for name in written for i in final[name] if i in dists)
    reused = f", {len(final) - len(written)} unchanged (the previous image's)" if len(written) < len(final) else ""
    output.step(
        f"Dependencies in {len(final)} layers: {len(written)} written ({size / 2**20:.1f} MiB of "
        f"distributions){reused} ({output.format_duration(seconds)})"
    )
