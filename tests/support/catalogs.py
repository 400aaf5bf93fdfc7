"""A small runtime catalogue and the catalogue command, for the pin command's tests."""

from __future__ import annotations

import os
import subprocess
import sys

from support.builds import BUILDPACK_DIR

A_20_0 = "python-3.12.0-ubuntu-20.04-amd64.tar.zst"


A_20_1 = "python-3.12.1-ubuntu-20.04-amd64.tar.zst"


A_22_AMD = "python-3.12.0-ubuntu-22.04-amd64.tar.zst"


A_22_ARM = "python-3.12.0-ubuntu-22.04-arm64.tar.zst"


CATALOG_HEAD = """\
# Runtimes of the ACME mirror.
default = "3.12"
pins = "pending"  # until the release machine runs

[stacks.scalingo-20]  # amd64 only
"3.12" = "3.12.1"

[stacks.scalingo-22]
"3.12" = "3.12.0"
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "python_buildpack.catalog", *args],
        capture_output=True, text=True, cwd=BUILDPACK_DIR, env={**os.environ, **(env or {})},
    )  # fmt: skip
