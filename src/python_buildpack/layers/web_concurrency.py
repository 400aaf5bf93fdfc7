"""The `web-concurrency` launch layer: the exec.d program that sets WEB_CONCURRENCY.

The same program is installed twice: `exec.d/web_concurrency` computes the value for every
process, `exec.d/web/web_concurrency` (run only for `web`, after it) prints one line about
it. The spec gives exec.d programs no other way to know the process type. The content is
identical on every build, so the exported layer keeps its digest and is never re-uploaded.
"""

from __future__ import annotations

import shutil

from ..cnb.layers import LayerDefinition, LayerMetadata
from ..cnb.models import LayerTypes
from ..step_context import Context
from .templates import TEMPLATES, copy_layer_files

LAYER = LayerDefinition("web-concurrency", LayerTypes(launch=True), LayerMetadata)
LAYER_NAME = LAYER.name
PROGRAM = "web_concurrency"
TEMPLATE = TEMPLATES / "exec.d" / PROGRAM


def install(ctx: Context) -> None:
    with LAYER.rewrite(ctx.layers_dir) as root:
        source = ctx.buildpack_dir / TEMPLATE
        for target in (root / "exec.d" / PROGRAM, root / "exec.d" / "web" / PROGRAM):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            target.chmod(0o755)
        # env.launch/PORT.default: without PORT (`docker run` with no -e PORT), `--bind 0.0.0.0:$PORT`
        # would be an invalid address, so bind the CNB convention's 8080. The platform's PORT wins.
        copy_layer_files(ctx.buildpack_dir, LAYER_NAME, root)
