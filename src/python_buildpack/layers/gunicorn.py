"""The `gunicorn` launch layer: launch environment defaults for gunicorn (and uvicorn).

- FORWARDED_ALLOW_IPS=*: the platform's router is the only client of the container, so the
  X-Forwarded-* headers it sets are trusted (request.scheme is https behind it).
- GUNICORN_CMD_ARGS=--access-logfile -: the access log goes to stdout, into the app's logs.
- XDG_RUNTIME_DIR=/tmp: gunicorn 25.1+ opens a control socket at every start, in
  $XDG_RUNTIME_DIR/gunicorn.ctl when that directory exists, else in ~/.gunicorn/. A container's
  HOME is often not writable (read-only root filesystem, or an arbitrary uid whose HOME is /),
  which logs `Control server error` at each start; /tmp is writable wherever gunicorn can run at
  all (its workers' heartbeat files go there too). The socket is made with mode 0600. This only
  moves gunicorn's default: `control_socket` in gunicorn.conf.py, `--control-socket` and
  `--no-control-socket` still win, and an older gunicorn ignores the variable.

`.default` files (in layers_templates/gunicorn/env.launch/): a value the user sets wins. Only
env files, identical on every build, so the exported layer keeps its digest.
"""

from __future__ import annotations

from ..cnb.layers import LayerDefinition, LayerMetadata
from ..cnb.models import LayerTypes
from ..step_context import Context
from .templates import copy_layer_files

LAYER = LayerDefinition("gunicorn", LayerTypes(launch=True), LayerMetadata)


def install(ctx: Context) -> None:
    with LAYER.rewrite(ctx.layers_dir) as root:
        copy_layer_files(ctx.buildpack_dir, LAYER.name, root)
