"""Helpers shared by the benchmarks: the loopback runtime mirror, timing, sizes, the machine.

Benchmarks import it as a sibling module (`benchmarks/` is on sys.path when a script in it
runs).
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from python_buildpack.stacks.table import STACK_TO_UBUNTU
from python_buildpack_dev.platform.phases import host_arch
from python_buildpack_dev.runtime_mirror.archives import file_sha256, make_runtime_archive
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import serve

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "tests" / "fixtures" / "apps"
PYTHON_VERSION = platform.python_version()
PYTHON_MAJOR = PYTHON_VERSION.rsplit(".", 1)[0]
ARCH = host_arch()
# Archives are slow to pack and depend only on the interpreter: kept between runs.
ARCHIVE_CACHE = Path.home() / ".cache" / "python-buildpack" / "benchmarks" / "runtime-archives"


@contextmanager
def runtime_mirror(
    directory: Path, stack: str = "scalingo-22", *, bytecode: bool = True
) -> Iterator[dict[str, str]]:
    """Serves this interpreter as the runtime archive (packed as in production, or without the
    standard library's byte-code); yields the platform env that selects it."""
    archive = make_runtime_archive(
        Path(sys.base_prefix), directory, PYTHON_VERSION, STACK_TO_UBUNTU[stack], ARCH,
        cache_dir=ARCHIVE_CACHE, bytecode=bytecode,
    )
    catalog = write_catalog(
        directory / "catalog.toml",
        {stack: {PYTHON_MAJOR: PYTHON_VERSION}},
        default=PYTHON_MAJOR,
        artifacts={archive.name: file_sha256(archive)},
    )
    with serve(directory) as url:
        yield {"BP_PYTHON_RUNTIME_BASE_URL": url, "BP_PYTHON_RUNTIME_CATALOG": str(catalog)}


def timed_run(
    argv: Sequence[str | Path], *, env: Mapping[str, str], cwd: Path | None = None, check: bool = True
) -> float:
    """Wall time of one command, its output discarded (shown if it fails)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [str(a) for a in argv], env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return elapsed


def median_run(argv: Sequence[str | Path], runs: int, **kwargs: object) -> float:
    for _ in range(3):  # warm the page cache
        timed_run(argv, **kwargs)  # type: ignore[arg-type]
    return statistics.median(timed_run(argv, **kwargs) for _ in range(runs))  # type: ignore[arg-type]


def disk_usage(root: Path) -> int:
    """Bytes used on disk by a tree, hard-linked files counted once (what `du -s` reports)."""
    if not root.exists():
        return 0
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total + os.lstat(root).st_blocks * 512


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 0.1:
        return f"{value * 1000:.1f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s"


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


_DURATION = re.compile(r"^(?:(\d+)m )?(\d+(?:\.\d+)?)(ms|s)$")


def parse_duration(text: str) -> float | None:
    """Seconds from the build log's format (`31ms`, `1.2s`, `2m 3s`)."""
    match = _DURATION.match(text.strip())
    if not match:
        return None
    minutes, value, unit = match.groups()
    result = float(value) / (1000 if unit == "ms" else 1)
    return result + 60 * int(minutes or 0)


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"CPU: {cpu}, {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}); memory: {memory}",
        f"OS: {platform.platform()}; load average at start: {load}",
        f"Python: {PYTHON_VERSION} ({sys.base_prefix}), also the runtime the builds install",
    ]
