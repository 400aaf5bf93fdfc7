"""User-facing build errors.

Every mistake a user can make ends in a BuildError: a title saying what is wrong and a
paragraph saying where and how to fix it. `build.py` prints it and exits 1; a traceback is
only ever shown for a bug in the buildpack itself.
"""

from __future__ import annotations


class BuildError(Exception):
    """A build failure caused by the app, its configuration or the outside world."""

    def __init__(self, title: str, details: str = "", *, output: str = "") -> None:
        super().__init__(title)
        self.title = title
        self.details = details.strip()
        # Relevant output of a failed tool (installer, hook), shown before the explanation.
        self.output = output
