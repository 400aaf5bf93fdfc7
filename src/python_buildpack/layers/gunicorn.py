"""The `gunicorn` launch layer: launch environment defaults for gunicorn (and uvicorn).

- FORWARDED_ALLOW_IPS=*: the platform's router is the only client of the container, so the
  X-Forwarded-* headers it sets are trusted (request.scheme is https behind it).
- GUNICORN_CMD_ARGS=--access-logfile -: the access log goes to stdout, into the app's logs.

`.default` files (in layers_templates/gunicorn/env.launch/): a value the user sets wins. Only
env files, identical on every build, so the exported layer keeps its digest.
"""

from __future__ import annotations

from pathlib import Path

from ..cnb.layers import Layer
from ..cnb.models import LayerTypes
from .templates import BUILDPACK_DIR, copy_layer_files

LAYER_NAME = "gunicorn"


def install(layers_dir: Path, buildpack_dir: Path = BUILDPACK_DIR) -> None:
    layer = Layer(layers_dir, LAYER_NAME)
    root = layer.reset()  # launch-only: nothing is restored but metadata
    copy_layer_files(buildpack_dir, LAYER_NAME, root)
    layer.write(LayerTypes(launch=True))
