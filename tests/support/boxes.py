"""The error box exactly as the build log shows it, so tests can pin a whole message."""

from __future__ import annotations

import contextlib
import io

from python_buildpack import output
from python_buildpack.errors import BuildError


def box(error: BuildError) -> str:
    """The `! Error: ...` box that `build.main` prints for `error`, without surrounding blank lines."""
    stream = io.StringIO()
    with contextlib.redirect_stderr(stream):
        output.error(error.title, error.details)
    return stream.getvalue().strip("\n")
