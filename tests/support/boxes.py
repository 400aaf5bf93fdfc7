"""Error and warning boxes exactly as the build log shows them, so tests can pin whole messages."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

from python_buildpack import output
from python_buildpack.errors import BuildError


def _printed(show: Callable[[str, str], None], title: str, details: str) -> str:
    stream = io.StringIO()
    with contextlib.redirect_stderr(stream):
        show(title, details)
    return stream.getvalue().strip("\n")


def box(error: BuildError) -> str:
    """The `! Error: ...` box that `build.main` prints for `error`, without surrounding blank lines."""
    return _printed(output.error, error.title, error.details)


def warning_box(title: str, details: str) -> str:
    """The `! Warning: ...` box of the build log, without surrounding blank lines."""
    return _printed(output.warning, title, details)
