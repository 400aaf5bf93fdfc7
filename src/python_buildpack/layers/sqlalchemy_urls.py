"""The `sqlalchemy-urls` launch layer: the exec.d program that gives SQLAlchemy usable URLs.

SQLAlchemy 1.4+ refuses the `postgres://` scheme of the platform's SCALINGO_POSTGRESQL_URL.
At every start the program exports SCALINGO_POSTGRESQL_ALCHEMY_URL (and one per other
SCALINGO_POSTGRESQL_URL* variable) with `postgresql://`. Whether the app uses SQLAlchemy is
known at build time: the layer exists only for apps whose dependency files mention it, so the
others run no extra program at start.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..cnb.layers import LayerDefinition, LayerMetadata
from ..cnb.models import LayerTypes
from ..step_context import Context
from .templates import TEMPLATES

LAYER = LayerDefinition("sqlalchemy-urls", LayerTypes(launch=True), LayerMetadata)
LAYER_NAME = LAYER.name
PROGRAM = "sqlalchemy_urls"
TEMPLATE = TEMPLATES / "exec.d" / PROGRAM
# The files the classic buildpack looked in; locks name their packages too, but a lock
# without one of these is not an app this buildpack builds.
DEPENDENCY_FILES = ("requirements.txt", "Pipfile", "pyproject.toml")
_MENTION = re.compile(rb"sqlalchemy", re.IGNORECASE)
_READ_LIMIT = 4 * 1024 * 1024


def mentions_sqlalchemy(app_dir: Path) -> str | None:
    """The first dependency file that mentions sqlalchemy, if any."""
    for name in DEPENDENCY_FILES:
        path = app_dir / name
        if not path.is_file():  # not a FIFO or a device: they would block the read
            continue
        try:
            with path.open("rb") as f:
                if _MENTION.search(f.read(_READ_LIMIT)):
                    return name
        except OSError:
            continue  # unreadable: the package manager reports real problems
    return None


def install(ctx: Context) -> str | None:
    """Installs the program when the app mentions sqlalchemy (returns that file), else removes the layer."""
    found = mentions_sqlalchemy(ctx.app_dir)
    if found is None:
        LAYER.layer(ctx.layers_dir).delete()
        return None
    with LAYER.rewrite(ctx.layers_dir) as root:
        target = root / "exec.d" / PROGRAM
        target.parent.mkdir(parents=True)
        shutil.copyfile(ctx.buildpack_dir / TEMPLATE, target)
        target.chmod(0o755)
    return found
