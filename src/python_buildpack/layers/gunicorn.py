"""The `gunicorn` launch layer: launch environment defaults for gunicorn (and uvicorn).

- FORWARDED_ALLOW_IPS=*: the platform's router is the only client of the container, so the
  X-Forwarded-* headers it sets are trusted (request.scheme is https behind it).
- GUNICORN_CMD_ARGS=--access-logfile -: the access log goes to stdout, into the app's logs.

`.default` files (in layers_templates/gunicorn/env.launch/): a value the user sets wins. Only
env files, identical on every build, so the exported layer keeps its digest.
"""

from __future__ import annotations

from ..cnb.layers import LayerDefinition, LayerMetadata
from ..cnb.models import LayerTypes
from ..context import Context
from .templates import copy_layer_files

LAYER = LayerDefinition("gunicorn", LayerTypes(launch=True), LayerMetadata)


def install(ctx: Context) -> None:
    with LAYER.rewrite(ctx.layers_dir) as root:
        copy_layer_files(ctx.buildpack_dir, LAYER.name, root)
