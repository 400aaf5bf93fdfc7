"""Per-start cost of the WEB_CONCURRENCY exec.d program (target: under 5 ms).

    .venv/bin/python benchmarks/exec_d.py [--runs 300]

Each run spawns the real program the way the launcher does (fd 3 open, no shell around it)
against a fake nested cgroup v2 tree and a v1 tree, and prints mean and median wall time. A
baseline of `/bin/sh -c :` shows how much of that is the cost of starting any shell.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "layers_templates" / "exec.d" / "web_concurrency"
MIB = 1024 * 1024


def fake_trees(root: Path) -> dict[str, dict[str, str]]:
    v2 = root / "v2"
    leaf = v2 / "kubepods" / "pod1" / "ctr"
    leaf.mkdir(parents=True)
    (leaf / "memory.max").write_text("max\n")
    (leaf.parent / "memory.max").write_text(f"{1024 * MIB}\n")
    (v2 / "kubepods" / "memory.max").write_text(f"{4096 * MIB}\n")
    (v2 / "proc").write_text("0::/kubepods/pod1/ctr\n")
    v1 = root / "v1"
    (v1 / "memory" / "docker" / "abc").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (v1 / "memory" / "docker" / "abc" / "memory.limit_in_bytes").write_text(f"{512 * MIB}\n")
    lines = [f"{i}:{c}:/docker/abc" for i, c in enumerate(["cpu", "cpuacct", "pids", "blkio"], 5)]
    (v1 / "proc").write_text("\n".join([*lines, "4:memory:/docker/abc", "1:name=systemd:/docker/abc"]) + "\n")
    return {name: env_for(tree) for name, tree in (("cgroup v2, nested", v2), ("cgroup v1, nested", v1))}


def env_for(tree: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "WEB_CONCURRENCY_CGROUP_ROOT": str(tree),
        "WEB_CONCURRENCY_PROC_CGROUP": str(tree / "proc"),
    }


def spawn(argv: list[str], env: dict[str, str], fd3: int) -> float:
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, fd3, 3)])
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed with status {status}")
    return elapsed


def output_of(env: dict[str, str]) -> str:
    read_fd, write_fd = os.pipe()
    spawn([str(SCRIPT)], env, write_fd)
    os.close(write_fd)
    with os.fdopen(read_fd) as reader:
        return reader.read().strip().replace("\n", ", ")


def measure(argv: list[str], env: dict[str, str], runs: int, fd3: int) -> list[float]:
    for _ in range(5):  # warm the page cache
        spawn(argv, env, fd3)
    return [spawn(argv, env, fd3) * 1000 for _ in range(runs)]


def report(label: str, times: list[float]) -> None:
    print(f"{label:<28} mean {statistics.mean(times):6.2f} ms   median {statistics.median(times):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    devnull = os.open(os.devnull, os.O_WRONLY)
    with tempfile.TemporaryDirectory() as tmp:
        trees = fake_trees(Path(tmp))
        print(f"{args.runs} runs each of {SCRIPT.name}; target: under 5 ms per start\n")
        baseline = measure(["/bin/sh", "-c", ":"], {"PATH": "/usr/bin:/bin"}, args.runs, devnull)
        report("baseline: /bin/sh -c :", baseline)
        for label, env in trees.items():
            print(f"  ({label}: {output_of(env)})")
            report(label, measure([str(SCRIPT)], env, args.runs, devnull))


if __name__ == "__main__":
    main()
