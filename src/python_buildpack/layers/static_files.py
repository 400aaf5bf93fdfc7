"""The `static` layer (cache only): collectstatic's output, replayed when nothing it reads changed.

collectstatic writes the static files into the app dir, which every build receives afresh from
the source, so a Django app ran it, and with it the runtime and the venv unpacked from their
packed copies, at every build: seconds of a redeploy with nothing changed. collectstatic reads
the app's files (the settings, each app's `static/`), the venv's packages (admin's, DRF's
`static/`) and the environment. So the files it created, changed or removed in the app dir are
kept here, in one `.tar.zst`, under a key of what it read:

- every file of the app dir (paths, modes, contents; as tree_digest reads a local package,
  without `.git`, `node_modules`, `__pycache__`), after the pre_compile hook;
- the user's settings (the platform's environment variables), all of them: settings modules
  read the environment (not the process's own variables, which change from build to build);
- what the venv is made from (the venv layer's metadata: Python version, installer, the
  dependency files' digests), and the buildpack's version.

A later build with the same key and a venv it does not install again puts those files back and
runs no Python for it; any other build runs collectstatic and records its output anew. An app
with more than `MAX_FILES` files is not keyed (hashing it would cost more than it saves).
STATIC_ROOT outside the app dir: nothing of it reaches the image anyway, so nothing is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from .. import output
from ..app import digests
from ..cnb.layers import LayerDefinition, LayerMetadata, Restored
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..step_context import Context

LAYER_NAME = "static"
TYPES = LayerTypes(cache=True)
ARCHIVE = "output.tar.zst"
MAX_FILES = 20_000


class StaticMetadata(LayerMetadata):
    app_files: str = Field(title="the app's files", json_schema_extra={"opaque": True})
    settings: str = Field(title="the app's environment variables", json_schema_extra={"opaque": True})
    dependencies: str = Field(title="the dependencies", json_schema_extra={"opaque": True})
    buildpack: str = Field(title="the buildpack version")
    # Not reuse keys: what the recorded run did (carried over from the restored metadata).
    collected: bool = Field(default=True, title="whether collectstatic collected files")
    removed: list[str] = Field(default_factory=list, title="app files it replaced or deleted")
    # What the launch settings read from the venv (the Django default process), for the builds
    # that put the output back without the venv's files: the key holds the venv's identity.
    gunicorn: bool = Field(default=False, title="whether the venv has gunicorn")


def _has_archive(path: Path) -> str | None:
    return None if (path / ARCHIVE).is_file() else "its archive was not restored"


LAYER = LayerDefinition(LAYER_NAME, TYPES, StaticMetadata, _has_archive)


@dataclass(frozen=True)
class Static:
    """collectstatic's cache for this build: `replay` the recorded output, or run and record."""

    key: StaticMetadata | None  # None: the app is not keyed (too many files)
    replay: StaticMetadata | None  # the recorded run to put back, when the key is unchanged
    reason: str  # why a recorded run is not put back ("" when there is none)


def prepare(
    ctx: Context, user_env: Mapping[str, str], venv_metadata: LayerMetadata, installing: bool, version: str
) -> Static:
    """Before the dependencies: whether collectstatic's recorded output can be put back.
    `user_env`: the platform's environment variables (not the process's, which vary by build)."""
    app_files = _app_digest(ctx.app_dir)
    if app_files is None:
        LAYER.remove(ctx.layers_dir)
        output.step(f"Not caching collectstatic's output: the app has more than {MAX_FILES:,} files to compare")
        return Static(None, None, "")
    previous = LAYER.previous(ctx.layers_dir)
    key = StaticMetadata(
        app_files=app_files,
        settings=_digest(json.dumps(sorted(user_env.items()))),
        dependencies=_digest(venv_metadata.model_dump_json()),
        buildpack=version,
        collected=previous.collected if previous is not None else True,
        removed=previous.removed if previous is not None else [],
        gunicorn=previous.gunicorn if previous is not None else False,
    )
    if installing:  # the venv changes: what its packages hold may too
        return Static(key, None, "the dependencies are installed again" if previous is not None else "")
    opened = LAYER.open(ctx.layers_dir, key)
    if isinstance(opened, Restored):
        return Static(key, opened.metadata, "")
    return Static(key, None, opened.reason)


def collect(
    ctx: Context, static: Static | None, venv: Path, run: Callable[[], bool], need_python: Callable[[], None]
) -> None:
    """collectstatic's output in the app dir: put back, or made by `run` (after `need_python`)
    and recorded for the next build. `static` None: the plan has no collectstatic (no manage.py,
    or disabled), `run` only says why, and nothing is cached."""
    if static is None:
        LAYER.remove(ctx.layers_dir)
        run()
        return
    if static.replay is not None:
        try:
            _put_back(ctx, static.replay)
            return
        except BuildError as error:
            output.step(f"Discarding cached collectstatic output since {error.title}")
    elif static.reason:
        output.step(f"Discarding cached collectstatic output since {static.reason}")
    need_python()
    if static.key is None:  # not keyed: nothing to record
        run()
        return
    before = _snapshot(ctx.app_dir)
    collected = run()
    _record(ctx, static.key, before, collected, (venv / "bin" / "gunicorn").exists())


def _put_back(ctx: Context, recorded: StaticMetadata) -> None:
    """The recorded output back in the app dir; a BuildError (its title: why, for the log)
    before anything is changed when the copy is damaged."""
    from ..files.tar_zst import extract_stream, members_tar_zst  # zstandard: only for the builds that use it

    start = time.monotonic()
    archive = LAYER.layer(ctx.layers_dir).path / ARCHIVE
    try:
        names = members_tar_zst(archive) if recorded.collected else []
    except BuildError:
        raise BuildError("its archive is damaged") from None
    for relative in {*recorded.removed, *names}:  # what it replaced, deleted, or writes again
        path = ctx.app_dir / relative
        if path.is_symlink() or path.is_file():
            path.unlink()
    if not recorded.collected:
        output.step("Skipping collectstatic: its last run left nothing in the app dir, and nothing it reads changed")
        return
    try:
        with archive.open("rb") as raw:
            extract_stream(raw, ctx.app_dir, archive.name, links_outside=True)
    except (BuildError, OSError) as error:
        raise BuildError(f"its files could not be written back ({error})") from None
    took = output.format_duration(time.monotonic() - start)
    output.step(f"Using cached collectstatic output (app files, dependencies and settings unchanged; {took})")


def has_gunicorn(static: Static | None, venv: Path, venv_files: bool) -> bool:
    """Whether the venv has gunicorn: from its files, or as recorded with the output put back."""
    if not venv_files and static is not None and static.replay is not None:
        return static.replay.gunicorn
    return (venv / "bin" / "gunicorn").exists()


def _record(
    ctx: Context, key: StaticMetadata, before: Mapping[str, tuple[int, int, int]], collected: bool, gunicorn: bool
) -> None:
    from ..files.tar_zst import pack_tar_zst

    after = _snapshot(ctx.app_dir)
    made = {path for path, stat in after.items() if before.get(path) != stat}
    removed = sorted(path for path in before if path not in after or path in made)
    layer = LAYER.layer(ctx.layers_dir)
    path = layer.reset()
    try:
        pack_tar_zst(ctx.app_dir, path / ARCHIVE, only=made)
    except OSError as error:  # the build goes on: the next one runs collectstatic again
        layer.delete()
        output.step(f"Not caching collectstatic's output: it could not be packed ({error.strerror or error})")
        return
    # Nothing in the app dir (STATIC_ROOT elsewhere, or nothing to collect): nothing to put back.
    update = {"collected": collected and bool(made), "removed": removed, "gunicorn": gunicorn}
    layer.write(TYPES, key.model_copy(update=update))


def _app_digest(app_dir: Path) -> str | None:
    digest = hashlib.sha256()
    for count, line in enumerate(digests.tree_entries(app_dir), start=1):
        if count > MAX_FILES:
            return None
        digest.update(line)
    return digest.hexdigest()


def _snapshot(app_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Each file and link of the app dir (relative path) → (size, mtime in ns, inode)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(app_dir):
        dirnames[:] = [d for d in dirnames if d not in digests.TREE_SKIP]
        for name in filenames:
            path = os.path.join(dirpath, name)
            stat = os.lstat(path)
            found[os.path.relpath(path, app_dir)] = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    return found


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
