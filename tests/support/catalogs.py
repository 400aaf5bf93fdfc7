"""A small runtime catalogue and the catalogue command, for the pin command's tests."""

from __future__ import annotations

import os
import subprocess
import sys

from support.builds import BUILDPACK_DIR

from python_buildpack.stacks.table import archive_name

A_20_0 = archive_name("3.12.0", "20.04", "amd64")
A_20_1 = archive_name("3.12.1", "20.04", "amd64")
A_22_AMD = archive_name("3.12.0", "22.04", "amd64")
A_22_ARM = archive_name("3.12.0", "22.04", "arm64")


CATALOG_HEAD = """\
# Runtimes of the ACME mirror.
default = "3.12"
pins = "pending"  # until the release machine runs

[stacks.scalingo-20]  # amd64 only
"3.12" = "3.12.1"

[stacks.scalingo-22]
"3.12" = "3.12.0"
"""


def run_cli(*args: str, env: dict[str, str] | None = None,
            module: str = "python_buildpack.runtime.pin") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True, text=True, cwd=BUILDPACK_DIR, env={**os.environ, **(env or {})},
    )  # fmt: skip
