"""Starting a built app: a fake cgroup v2 memory limit, a free port, HTTP with a deadline."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from python_buildpack_dev.platform.ports import free_port as free_port


def fake_cgroup_v2(root: Path, limit_bytes: int) -> dict[str, str]:
    (root / "sys" / "app.slice").mkdir(parents=True)
    (root / "sys" / "app.slice" / "memory.max").write_text(f"{limit_bytes}\n")
    (root / "sys" / "memory.max").write_text("max\n")
    proc = root / "proc-self-cgroup"
    proc.write_text("0::/app.slice\n")
    return {"WEB_CONCURRENCY_CGROUP_ROOT": str(root / "sys"), "WEB_CONCURRENCY_PROC_CGROUP": str(proc)}


def get(url: str, deadline: float) -> tuple[int, str]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
