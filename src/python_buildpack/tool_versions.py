"""The installer versions this buildpack pins: the one place to bump them (a leaf: imports nothing).

Each is installed from PyPI (or the index the app's PIP_INDEX_URL names) into its own cached
build-only layer. Changing a pin rebuilds that tool's layer, its download cache and every
app's venv on the next build. Checked to install and run on Python 3.11, 3.12 and 3.13.
"""

from __future__ import annotations

from typing import Final, Literal

Tool = Literal["pip", "pipenv", "poetry", "uv"]

TOOL_VERSIONS: Final[dict[Tool, str]] = {
    "pip": "26.3",
    "pipenv": "2026.10.3",
    "poetry": "2.5.1",
    "uv": "0.13.9",
}
