"""The `gunicorn` launch layer: launch environment defaults for gunicorn (and uvicorn).

- FORWARDED_ALLOW_IPS=*: the platform's router is the only client of the container, so the
  X-Forwarded-* headers it sets are trusted (request.scheme is https behind it).
- GUNICORN_CMD_ARGS=--access-logfile -: the access log goes to stdout, into the app's logs.

`.default` files: a value the user sets wins. Only env files, identical on every build, so
the exported layer keeps its digest.
"""

from __future__ import annotations

from pathlib import Path

from ..cnb.layers import Layer
from ..cnb.models import LayerTypes

LAYER_NAME = "gunicorn"
DEFAULTS = {"FORWARDED_ALLOW_IPS": "*", "GUNICORN_CMD_ARGS": "--access-logfile -"}


def install(layers_dir: Path) -> None:
    layer = Layer(layers_dir, LAYER_NAME)
    layer.reset()  # launch-only: nothing is restored but metadata
    for name, value in DEFAULTS.items():
        layer.env.default(name, value, scope="launch")
    layer.write(LayerTypes(launch=True))
