"""Byte-code compiled on every core, by the interpreter that will run it.

`compileall -j 0` hands the files one at a time to a process pool: on the 2-core build VM it
compiled a Django venv's 972 modules no faster than one process (1.09 s against 0.90 s), and
pip's 441 in 0.44 s. Shared out by size among forked workers, the same work takes 0.39 s and
0.32 s. This file is run as a script by the runtime or venv interpreter (byte-code belongs to
one Python version), so it imports only the standard library and keeps to Python 3.8 syntax:

    python -I -S bytecode.py {checked-hash|unchecked-hash} [--missing] [--legacy] [--ddir DIR] ROOT...

Directories named `tests` are skipped (`_SKIPPED_DIRS`).
`--missing` skips sources that already have byte-code (an updated venv's earlier packages);
`--legacy` writes `module.pyc` beside `module.py` (the layout zipimport reads), not in `__pycache__`;
`--ddir` names sources `DIR/<path under ROOT>` in the byte-code, as `compileall -d` does.
Exit status: 0; 1 when some file did not compile (named in the output: pip ignores such files,
as the standard library's own test data); 2 on a bad command line; 3 when a worker died.
A worker whose parent is gone (the build killed it: interrupted) stops at its next file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Job = tuple[str, str | None]  # source, its name in the byte-code

SCRIPT = Path(__file__).resolve()
MODES = ("checked-hash", "unchecked-hash")
_MAX_WORKERS = 8
# A package's own test suite (pandas/tests, numpy/*/tests: a fifth of a large venv's modules)
# is never imported by the app it ships in: compiling it would cost the build and the image.
_SKIPPED_DIRS = ("__pycache__", "tests")
_FILES_PER_WORKER = 32  # below this a worker's start costs more than it saves


def command(
    python: Path,
    mode: str,
    roots: Sequence[Path],
    *,
    missing: bool = False,
    legacy: bool = False,
    ddir: str | None = None,
) -> list[str | Path]:
    """The command line that compiles `roots` with `python`."""
    options: list[str | Path] = [mode, *(["--missing"] if missing else []), *(["--legacy"] if legacy else [])]
    options += ["--ddir", ddir] if ddir else []
    return [python, "-I", "-S", SCRIPT, *options, *roots]


def venv_missing(venv: Path) -> list[str | Path]:
    """The command that compiles, checked-hash, the venv's modules that have no byte-code yet (a
    venv's lib/ holds only its site-packages)."""
    return command(venv / "bin" / "python", "checked-hash", [venv / "lib"], missing=True)


def _jobs(roots: Sequence[str], missing: bool, ddir: str | None) -> list[tuple[int, Job]]:
    from importlib.util import cache_from_source

    found: list[tuple[int, Job]] = []
    for root in roots:
        for directory, dirs, files in os.walk(root):
            dirs[:] = [name for name in dirs if name not in _SKIPPED_DIRS]
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(directory, name)
                if missing and os.path.exists(cache_from_source(path)):
                    continue
                try:
                    size = os.stat(path).st_size
                except OSError:
                    continue  # a dangling link: nothing to compile
                shown = os.path.join(ddir, os.path.relpath(path, root)) if ddir is not None else None
                found.append((size, (path, shown)))
    return found


def _share(jobs: list[tuple[int, Job]], workers: int) -> list[list[Job]]:
    """Largest first, each to the least loaded worker: the workers end together."""
    loads = [0] * workers
    shares: list[list[Job]] = [[] for _ in range(workers)]
    for size, job in sorted(jobs, key=lambda item: -item[0]):
        least = loads.index(min(loads))
        loads[least] += size + 512  # a file's fixed cost, beyond its length
        shares[least].append(job)
    return shares


def _compile(share: list[Job], mode: str, parent: int | None = None, legacy: bool = False) -> int:
    import py_compile

    invalidation = py_compile.PycInvalidationMode[mode.upper().replace("-", "_")]
    failed = 0
    for source, shown in share:
        if parent is not None and os.getppid() != parent:
            return 3  # orphaned: the build killed the compile (interrupted), so stop writing into its layer
        try:
            cfile = source + "c" if legacy else None
            py_compile.compile(source, cfile, dfile=shown, doraise=True, invalidation_mode=invalidation)
        except (py_compile.PyCompileError, OSError, UnicodeError, ValueError) as error:
            failed += 1
            print(f"Could not compile {source}: {str(error).strip().splitlines()[-1]}", flush=True)
    return 1 if failed else 0


def _workers(count: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_WORKERS, count // _FILES_PER_WORKER))


def _exit_code(status: int) -> int:
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 3


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    missing, legacy = "--missing" in args, "--legacy" in args
    args = [arg for arg in args if arg not in ("--missing", "--legacy")]
    ddir: str | None = None
    if "--ddir" in args:
        at = args.index("--ddir")
        ddir = args[at + 1] if at + 1 < len(args) else None
        del args[at : at + 2]
    if len(args) < 2 or args[0] not in MODES or ddir == "":
        print(f"usage: {SCRIPT.name} {{{'|'.join(MODES)}}} [--missing] [--legacy] [--ddir DIR] ROOT...",
              file=sys.stderr)  # fmt: skip
        return 2
    mode, roots = args[0], args[1:]
    jobs = _jobs([os.path.normpath(root) for root in roots], missing, ddir)
    first, *others = _share(jobs, _workers(len(jobs)))
    children, parent = [], os.getpid()
    for share in others:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                code = _compile(share, mode, parent, legacy)
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append(pid)
    code = _compile(first, mode, None, legacy)
    for pid in children:
        code = max(code, _exit_code(os.waitpid(pid, 0)[1]))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
