"""The `python` layer: the CPython runtime (launch; build when a later buildpack requires python).

Reused while stack, architecture, version and the archive's checksum are unchanged. Not cached
as such (caching/plan.py): a redeploy gets its files only when a step runs Python
(caching/on_demand.py), from its packed copy, which is the archive it was installed from, or
downloaded again. The
metadata records the sha256 of the archive the layer was installed from: the catalogue's pin,
or unpinned, what the download gave (trust on first use). The same record goes to the
launch-only layer `python-archive` (metadata and an empty directory): the lifecycle restores a
launch-only layer's metadata from the previous image even when the cache is lost, which it
does not do for the cached `python` layer. A later download of the same archive with other
bytes is then a warning naming both digests, an error in strict mode
(BP_PYTHON_RUNTIME_REQUIRE_PIN, which also refuses unpinned archives).
Byte-code is compiled with unchecked-hash invalidation: the exported layer's mtimes are
normalised, which would make timestamp-based .pyc files stale at every start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from pydantic import Field

from .. import output
from ..caching import packed
from ..caching.on_demand import OnDemand
from ..caching.plan import CachePlan
from ..cnb.env import apply_layer
from ..cnb.layers import Empty, Layer, LayerDefinition, LayerMetadata, Restored
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..files import bytecode
from ..process import Completed
from ..runtime.catalog import PIN_COMMAND, REQUIRE_PIN_SETTING, RuntimeCatalog, require_pin
from ..stacks.identify import Stack
from ..stacks.table import OWN_MIRROR, archive_name
from ..step_context import Context
from . import sbom


class PythonLayerMetadata(LayerMetadata):
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")
    python_version: str = Field(title="the Python version")
    archive_sha256: str | None = Field(
        default=None, title="the runtime archive checksum", json_schema_extra={"opaque": True}
    )


class ArchiveRecord(LayerMetadata):
    """The runtime archive the app's image was built with (the `python-archive` layer)."""

    file: str
    sha256: str


def _runnable(path: Path) -> str | None:
    # A cached layer cut short (full disk, killed export) must not fail every later build.
    if not path.is_dir():
        return "its files were not restored"
    return None if os.access(path / "bin" / "python3", os.X_OK) else "its bin/python3 is missing"


LAYER = LayerDefinition("python", LayerTypes(launch=True), PythonLayerMetadata, _runnable, image_reuse=True)
LAYER_NAME = LAYER.name
RECORD = LayerDefinition("python-archive", LayerTypes(launch=True), ArchiveRecord)
# The archive this build downloaded, until it becomes the packed copy (no `.toml`: a lifecycle
# ignores it).
DOWNLOADED = ".python-archive.tar.zst"


@dataclass(frozen=True)
class Runtime:
    """The installed Python: what the venv and the tools are made from, and keyed by."""

    home: Path  # the install prefix: bin/python3, lib/...
    version: str
    stack: Stack
    # The archive it came from, for the SBOM (None: a layer from before digests were recorded).
    archive_sha256: str | None = field(default=None, kw_only=True, compare=False)
    # The layer's files, when they may have to be obtained (None: `home` is there).
    files: OnDemand | None = field(default=None, kw_only=True, compare=False)

    @property
    def python(self) -> Path:
        return self.home / "bin" / "python3"

    def need(self, env: dict[str, str]) -> Path:
        """The runtime's files, obtained now if the build does not have them yet."""
        return self.files.need(env) if self.files is not None else self.home

    @property
    def metadata(self) -> PythonLayerMetadata:
        return PythonLayerMetadata(stack=self.stack.name, arch=self.stack.arch, python_version=self.version,
                                   archive_sha256=self.archive_sha256)

    @property
    def major(self) -> str:
        return ".".join(self.version.split(".")[:2])


def reused_line(version: str) -> str:
    """The log line of a build that keeps the cached runtime (a replayed redeploy prints it too)."""
    return f"Using cached Python {version}"


def install(ctx: Context, env: dict[str, str], stack: Stack, version: str, catalog: RuntimeCatalog,
            plan: CachePlan) -> Runtime:  # fmt: skip
    """The runtime layer, reused or installed; `env` gets the layer's build environment once its
    files are there (`Runtime.need`)."""
    filename = archive_name(version, stack.ubuntu_version, stack.arch)
    pin = catalog.sha256_for(filename)
    strict = require_pin(ctx.settings)
    if strict and pin is None:
        raise _unpinned_error(filename, catalog)
    previous = LAYER.previous(ctx.layers_dir)
    same_archive = previous is not None and (previous.stack, previous.arch, previous.python_version) == (
        stack.name, stack.arch, version,
    )  # fmt: skip
    recorded = (previous.archive_sha256 if previous is not None and same_archive else None) or _recorded(
        ctx.layers_dir, filename
    )
    # Unpinned, the digest recorded at download is the reference: no reason to discard the layer.
    expected = PythonLayerMetadata(
        stack=stack.name, arch=stack.arch, python_version=version, archive_sha256=pin or recorded
    )
    opened = LAYER.open(ctx.layers_dir, expected, plan.launch_types)
    copy = packed.find(LAYER, ctx.layers_dir, expected) if expected.archive_sha256 else None
    (ctx.layers_dir / DOWNLOADED).unlink(missing_ok=True)  # an interrupted build's
    if isinstance(opened, Restored):
        output.step(reused_line(version))
        files = OnDemand.present(opened.layer)
        if not opened.files:
            files = OnDemand(opened.layer, in_image=True)
            files.obtain = partial(_obtain, ctx, files, expected, filename, stack, copy, plan, pin=pin, strict=strict)
        runtime = Runtime(opened.layer.path, version, stack, archive_sha256=expected.archive_sha256, files=files)
    elif copy is not None and not opened.reason and _from_copy(ctx, opened, stack, copy):  # the image lost
        runtime = Runtime(opened.layer.path, version, stack, archive_sha256=expected.archive_sha256,
                          files=OnDemand.present(opened.layer))
    else:
        if opened.reason:
            old = opened.previous.python_version if opened.previous else "runtime"
            output.step(f"Discarding cached Python {old} since {opened.reason}")
        runtime = _fill(ctx, opened, filename, stack, version, pin=pin, recorded=recorded, strict=strict,
                        keep=ctx.layers_dir / DOWNLOADED if plan.packed_runtime else None)
        runtime = replace(runtime, files=OnDemand.present(opened.layer))
    _record(ctx.layers_dir, filename, runtime.archive_sha256)
    if runtime.files is not None and runtime.files.has_files:
        apply_layer(env, runtime.home)
    if plan.later_buildpack:
        runtime.need(env)  # its files stay for the buildpacks after this one
    return runtime


def finish(layers_dir: Path, runtime: Runtime, plan: CachePlan) -> None:
    """Before the export: the packed copy for the next build, if the plan keeps one, and the
    files given up when they are the previous image's layer."""
    downloaded = layers_dir / DOWNLOADED
    metadata = LAYER.previous(layers_dir) or runtime.metadata  # as written: a download may have changed it
    if not plan.packed_runtime or metadata.archive_sha256 is None:
        downloaded.unlink(missing_ok=True)
        packed.drop(LAYER, layers_dir)
    elif downloaded.is_file():
        packed.save_file(LAYER, layers_dir, downloaded, metadata)
    elif not packed.keep(LAYER, layers_dir, metadata):
        packed.drop(LAYER, layers_dir)  # a stale copy, or none: the next build that needs it downloads it
    if runtime.files is not None and not plan.later_buildpack:
        runtime.files.release()


def _obtain(ctx: Context, files: OnDemand, expected: PythonLayerMetadata, filename: str, stack: Stack,
            copy: Path | None, plan: CachePlan, *, pin: str | None, strict: bool) -> None:  # fmt: skip
    """The files of a runtime layer that the previous image has: unpacked from its packed
    copy, else downloaded again. An archive whose bytes changed since is noticed as on any
    download (a warning, an error in strict mode); its files are then not the image's."""
    layer, version = files.layer, expected.python_version
    if copy is None or not _unpack(ctx, layer.path, version, stack, copy):
        from ..runtime.mirror import base_url, runtime_url
        from ..runtime.unpack_on_arrival import download_and_extract

        url = runtime_url(base_url(ctx.settings), version, stack.ubuntu_version, stack.arch)
        keep = ctx.layers_dir / DOWNLOADED if plan.packed_runtime else None
        with output.timed(f"Downloading and extracting Python {version} ({filename}; not cached for this app)"):
            digest = download_and_extract(url, layer.path, sha256=pin, keep=keep)
        _post_install(ctx, Runtime(layer.path, version, stack))
        if expected.archive_sha256 is not None and digest != expected.archive_sha256:
            _archive_changed(filename, url, expected.archive_sha256, digest, strict=strict, pinned=pin is not None)
            files.in_image = False  # other files than the image's layer: exported anew
            layer.write(plan.launch_types, expected.model_copy(update={"archive_sha256": digest}))
            _record(ctx.layers_dir, filename, digest)
            sbom.write_runtime_sbom(ctx.layers_dir, LAYER.name, version, stack, buildpack_dir=ctx.buildpack_dir,
                                    archive_sha256=digest)
    _write_env(layer)


def _unpack(ctx: Context, dest: Path, version: str, stack: Stack, copy: Path) -> bool:
    """The runtime from its packed copy; False (and the copy dropped) when it is damaged."""
    try:
        with output.timed(f"Unpacking cached Python {version}"):
            packed.unpack(copy, dest)
    except BuildError as error:
        output.step(f"Discarding the cached copy of Python {version} since it could not be unpacked: {error.details}")
        packed.drop(LAYER, ctx.layers_dir)
        return False
    _post_install(ctx, Runtime(dest, version, stack))
    return True


def _from_copy(ctx: Context, empty: Empty[PythonLayerMetadata], stack: Stack, copy: Path) -> bool:
    """The layer made from its packed copy (the previous image is gone); False when damaged."""
    if not _unpack(ctx, empty.layer.reset(), empty.expected.python_version, stack, copy):
        return False
    _write_env(empty.layer)
    empty.layer.write(empty.types, empty.expected)
    return True


def _fill(
    ctx: Context,
    empty: Empty[PythonLayerMetadata],
    filename: str,
    stack: Stack,
    version: str,
    *,
    pin: str | None,
    recorded: str | None,
    strict: bool,
    keep: Path | None = None,
) -> Runtime:
    # Imported here: httpx and zstandard cost ~50 ms that a warm rebuild does not need.
    from ..runtime.mirror import base_url, runtime_url
    from ..runtime.unpack_on_arrival import download_and_extract

    url = runtime_url(base_url(ctx.settings), version, stack.ubuntu_version, stack.arch)
    with empty.fill() as filling:
        # Extracted while it downloads; in place only once the whole archive matched the pin.
        with output.timed(f"Downloading and extracting Python {version} ({filename})"):
            digest = download_and_extract(url, filling.path, sha256=pin, keep=keep)
        if recorded is not None and digest != recorded:
            _archive_changed(filename, url, recorded, digest, strict=strict, pinned=pin is not None)
        runtime = Runtime(filling.path, version, stack, archive_sha256=digest)
        filling.metadata = filling.metadata.model_copy(update={"archive_sha256": digest})
        with output.timed(f"Installing Python {version}"):
            _post_install(ctx, runtime)
        _write_env(empty.layer)
    return runtime


def _recorded(layers_dir: Path, filename: str) -> str | None:
    record = RECORD.previous(layers_dir)
    return record.sha256 if record is not None and record.file == filename else None


def _record(layers_dir: Path, filename: str, sha256: str | None) -> None:
    if sha256 is None:  # a runtime layer from before digests were recorded
        RECORD.layer(layers_dir).delete()
        return
    with RECORD.rewrite(layers_dir, ArchiveRecord(file=filename, sha256=sha256)):
        pass  # metadata only


def previous_version(layers_dir: Path) -> str | None:
    """The Python version of the restored `python` layer, from its metadata (None if unusable)."""
    metadata = LAYER.previous(layers_dir)
    return metadata.python_version if metadata else None


def _unpinned_error(filename: str, catalog: RuntimeCatalog) -> BuildError:
    pending = (
        ' The catalogue shipped with this buildpack version has no pins yet (pins = "pending").'
        if catalog.pins == "pending"
        else ""
    )
    return BuildError(
        f"No sha256 pin for {filename}",
        f"{REQUIRE_PIN_SETTING} is on, so only runtime archives pinned in the runtime catalogue are "
        f"installed, and {catalog.origin} has no [[artifacts]] pin for this one.{pending} To pin every "
        "archive of a catalogue, run on a machine that reaches the mirror:\n\n"
        f"    $ {PIN_COMMAND} --base-url <mirror URL> <catalogue.toml>\n\n"
        "then point BP_PYTHON_RUNTIME_CATALOG at that catalogue (see the buildpack's docs/distribution.md, "
        f'"Pinning runtime archives"). Or set {REQUIRE_PIN_SETTING}=false to accept unpinned archives.',
    )


def _archive_changed(filename: str, url: str, recorded: str, digest: str, *, strict: bool, pinned: bool) -> None:
    """The same archive, downloaded again, has other bytes than when this app last installed it."""
    title = f"{filename} changed since this app's previous build"
    details = (
        f"The previous build installed a file of this name with other bytes:\n"
        f"    previous sha256 {recorded}\n"
        f"    now      sha256 {digest}\n"
        f"The same file name with different bytes means the archive at {url} was rebuilt, or "
        "tampered with. Ask the mirror's maintainers which."
    )
    if pinned:
        details += " The runtime catalogue pins the new file: its pin was changed too."
    if strict:
        raise BuildError(
            title,
            f"{details}\n{REQUIRE_PIN_SETTING} is on, so the build stops. If the change is expected, run "
            f"one build with {REQUIRE_PIN_SETTING}=false: it installs the pinned archive and records its digest.",
        )
    if not pinned:
        details += (
            f" Pin the archives in a runtime catalogue ({PIN_COMMAND}) to make any change an error, "
            f"and set {REQUIRE_PIN_SETTING}=true to refuse unpinned ones."
        )
    output.warning(title, details)


def _write_env(layer: Layer) -> None:
    # `.default`: a value the user sets (at build or run time) wins.
    layer.env.default("PYTHONUNBUFFERED", "1")
    layer.env.default("LANG", "C.UTF-8")


def _post_install(ctx: Context, runtime: Runtime) -> None:
    bin_dir = runtime.home / "bin"
    if not runtime.python.exists():
        raise BuildError(
            f"The Python {runtime.version} archive has no bin/python3",
            "The runtime archive's top level must be the install prefix (bin/python3, lib/...). "
            f"{OWN_MIRROR}, check how its archives are packed.",
        )
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to("python3")
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
           "LD_LIBRARY_PATH": str(runtime.home / "lib")}  # fmt: skip
    stdlib = runtime.home / "lib" / f"python{runtime.major}"
    # No ensurepip, whatever the archive holds: the pinned pip runs from the `pip` tool layer
    # and only pip apps get it, in their venv (see layers/tools.py).
    if not _has_hash_pycs(stdlib, runtime.major):
        # The production archives ship this byte-code; compiling it here is the fallback.
        _compile(ctx, runtime, stdlib, env)


def _has_hash_pycs(stdlib: Path, major: str) -> bool:
    """Whether the archive already ships hash-based byte-code (flags field of the .pyc header)."""
    tag = "cpython-" + major.replace(".", "")
    try:
        header = (stdlib / "__pycache__" / f"os.{tag}.pyc").read_bytes()[:8]
    except OSError:
        return False
    return len(header) == 8 and bool(int.from_bytes(header[4:8], "little") & 1)


def _compile(ctx: Context, runtime: Runtime, stdlib: Path, env: dict[str, str]) -> None:
    cmd = bytecode.command(runtime.python, "unchecked-hash", [stdlib])
    try:
        proc = ctx.run(cmd, env, runtime.home, echo=None)
    except OSError as error:
        proc = Completed(126, [str(error)])
    # Exit status 1: some file did not compile (e.g. lib2to3's test data), not fatal. Any
    # other status means the interpreter itself does not run.
    if proc.returncode not in (0, 1):
        raise BuildError(
            f"Python {runtime.version} does not run after installation",
            f"Compiling its standard library failed with exit status {proc.returncode}. The runtime "
            "archive may not match this stack.",
            output=proc.tail(),
        )
