"""files/bytecode.py: the parallel compile, run by real interpreters on real trees."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from python_buildpack.files import bytecode
from python_buildpack_dev.platform.build_image import local_interpreters

# Every local CPython the script promises to run on (3.8+), and this one.
INTERPRETERS = {major: exe for major, exe in local_interpreters().items() if tuple(map(int, major.split("."))) >= (3, 8)}
INTERPRETERS.setdefault(f"{sys.version_info[0]}.{sys.version_info[1]}", Path(sys.executable))
UNCHECKED, CHECKED = 0b01, 0b11  # the flags word of a hash-based .pyc


def tree(root: Path, count: int) -> list[Path]:
    """`count` modules over nested packages, large and small (enough for several workers)."""
    sources = []
    for index in range(count):
        path = root / f"pkg{index % 4}" / f"sub{index % 3}" / f"mod{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {index}\n" + "def f(x):\n    return x + 1\n" * (index % 7) * 50)
        sources.append(path)
    return sources


@functools.cache
def cache_tag(python: Path) -> str:
    tag: list[str | Path] = [python, "-c", "import sys; print(sys.implementation.cache_tag)"]
    out: str = subprocess.run(tag, capture_output=True, text=True, check=True).stdout
    return out.strip()


def pyc(source: Path, python: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{cache_tag(python)}.pyc"


def header(path: Path, python: Path = Path(sys.executable)) -> tuple[int, str]:
    """The flags word of a .pyc and the source name in it, read by the Python that wrote it."""
    read = "import marshal, sys; d = open(sys.argv[1], 'rb').read(); print(int.from_bytes(d[4:8], 'little'), marshal.loads(d[16:]).co_filename)"
    flags, name = subprocess.run([python, "-c", read, path], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    return int(flags), name.rstrip("\n")


@pytest.mark.parametrize("major", sorted(INTERPRETERS))
def test_every_module_is_compiled_by_the_interpreter_that_runs_it(tmp_path: Path, major: str) -> None:
    python = INTERPRETERS[major]
    sources = tree(tmp_path / "lib", 200)
    result = subprocess.run(
        bytecode.command(python, "unchecked-hash", [tmp_path / "lib"], ddir="."), capture_output=True, text=True
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert all(pyc(source, python).is_file() for source in sources)
    for source in sources[:3]:
        assert header(pyc(source, python), python) == (UNCHECKED, "./" + source.relative_to(tmp_path / "lib").as_posix())
    # Byte-code of byte-code is never made: __pycache__ holds .pyc files only.
    assert not list((tmp_path / "lib").rglob("__pycache__/__pycache__"))


def test_the_work_is_shared_among_forked_workers(tmp_path: Path) -> None:
    """With more than one core, more than one process writes the byte-code (each its share)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: one worker")
    sources = tree(tmp_path / "lib", 200)
    # The script run with py_compile wrapped: each call logs the pid of the process making it.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, py_compile, runpy, sys\n"
        "real, pids = py_compile.compile, sys.argv[1]\n"
        "def compile(*a, **k):\n"
        "    with open(pids, 'a') as log: log.write(f'{os.getpid()}\\n')\n"
        "    return real(*a, **k)\n"
        "py_compile.compile = compile\n"
        "sys.argv = [sys.argv[2], *sys.argv[3:]]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    log = tmp_path / "pids"
    script = bytecode.SCRIPT
    subprocess.run([sys.executable, "-I", probe, log, script, "checked-hash", tmp_path / "lib"], check=True)
    pids = log.read_text().split()
    assert len(pids) == len(sources)
    assert len(set(pids)) == min(len(os.sched_getaffinity(0)), 8, len(sources) // 32)
    assert header(pyc(sources[-1], Path(sys.executable)))[0] == CHECKED


def test_missing_compiles_only_what_has_no_byte_code(tmp_path: Path) -> None:
    python = Path(sys.executable)
    old, new = tmp_path / "site" / "old.py", tmp_path / "site" / "new.py"
    old.parent.mkdir()
    old.write_text("A = 1\n")
    new.write_text("B = 2\n")
    subprocess.run([python, "-m", "py_compile", old], check=True)  # timestamp-based, as an older install left it
    before = pyc(old, python).read_bytes()
    result = subprocess.run(bytecode.command(python, "checked-hash", [tmp_path / "site"], missing=True), check=False)
    assert result.returncode == 0
    assert pyc(old, python).read_bytes() == before
    assert header(pyc(new, python)) == (CHECKED, str(new))


def test_test_suites_get_no_byte_code(tmp_path: Path) -> None:
    """A package's `tests` directory is never imported by the app: not compiled."""
    python = Path(sys.executable)
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    files = {name: site / name for name in ("pkg/__init__.py", "pkg/tests/test_pkg.py", "tests/conftest.py",
                                             "pkg/testsuite.py", "six.py")}  # fmt: skip
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("X = 1\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(python)  # the venv's interpreter
    result = subprocess.run(bytecode.venv_missing(tmp_path), check=False)
    assert result.returncode == 0
    compiled = {name for name, path in files.items() if pyc(path, python).is_file()}
    assert compiled == {"pkg/__init__.py", "pkg/testsuite.py", "six.py"}


def test_a_module_that_does_not_compile_is_named_and_the_others_are_compiled(tmp_path: Path) -> None:
    python = Path(sys.executable)
    sources = tree(tmp_path / "lib", 80)
    broken = tmp_path / "lib" / "pkg0" / "py2_only.py"
    broken.write_text("print 'hello'\n")
    result = subprocess.run(
        bytecode.command(python, "checked-hash", [tmp_path / "lib"]), capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stdout.startswith(f"Could not compile {broken}: ") and result.stdout.count("\n") == 1
    assert all(pyc(source, python).is_file() for source in sources)
    assert not pyc(broken, python).exists()


@pytest.mark.parametrize(
    "args", [[], ["checked-hash"], ["fast", "lib"], ["checked-hash", "--ddir"]]
)
def test_a_bad_command_line_is_refused(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-S", bytecode.SCRIPT, *args], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 2 and result.stderr.startswith("usage: bytecode.py ")


def test_workers_stop_when_the_compile_is_killed(tmp_path: Path) -> None:
    """An interrupted build kills the script; its forked workers must not write on into the layer."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: no forked worker")
    tree(tmp_path / "lib", 200)
    # py_compile slowed down, each call logged with its pid: the compile is still running when killed.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, py_compile, runpy, sys, time\n"
        "real, log = py_compile.compile, sys.argv[1]\n"
        "def compile(*a, **k):\n"
        "    with open(log, 'a') as out: out.write(f'{os.getpid()}\\n')\n"
        "    time.sleep(0.05)\n"
        "    return real(*a, **k)\n"
        "py_compile.compile = compile\n"
        "sys.argv = [sys.argv[2], *sys.argv[3:]]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    log = tmp_path / "calls"
    proc = subprocess.Popen([sys.executable, "-I", probe, log, bytecode.SCRIPT, "checked-hash", tmp_path / "lib"])
    deadline = time.monotonic() + 30
    while len(set(log.read_text().split()) if log.exists() else ()) < 2:  # the parent and a worker
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    time.sleep(0.3)  # a worker in its current file finishes it, then sees its parent gone
    calls = len(log.read_text().split())
    time.sleep(0.5)
    assert len(log.read_text().split()) == calls < 200


def test_legacy_byte_code_sits_beside_its_source_for_zipimport(tmp_path: Path) -> None:
    """`--legacy`: `module.pyc` next to `module.py` (the layout zipimport reads; the pip layer's zip)."""
    python = Path(sys.executable)
    sources = tree(tmp_path / "lib", 40)
    result = subprocess.run(bytecode.command(python, "unchecked-hash", [tmp_path / "lib"], legacy=True), check=False)
    assert result.returncode == 0
    pycs = [source.with_suffix(".pyc") for source in sources]
    assert all(pyc.is_file() for pyc in pycs) and not list((tmp_path / "lib").rglob("__pycache__"))
    assert {int.from_bytes(pyc.read_bytes()[4:8], "little") for pyc in pycs} == {1}  # unchecked-hash
