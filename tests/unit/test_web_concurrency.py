"""The WEB_CONCURRENCY exec.d program, run for real against fake cgroup trees.

Each run gets fd 3 the way the launcher gives it: the program's TOML output is read back
from it and decoded as the launcher does (every value must be a string).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from python_buildpack.cnb import toml_io
from python_buildpack.layers import web_concurrency
from python_buildpack.step_context import Context

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "layers_templates" / "exec.d" / "web_concurrency"
MIB = 1024 * 1024
TIB = 1024 * 1024 * MIB
# Shells found here; strict ones (posh, busybox) catch anything beyond POSIX.
SHELLS = [
    shell
    for shell in (["sh"], ["dash"], ["bash", "--posix"], ["posh"], ["busybox", "sh"])
    if shutil.which(shell[0])
]


@dataclass
class Run:
    returncode: int
    values: dict[str, str]
    fd3: bytes
    stdout: str
    stderr: str


def run_program(
    env: dict[str, str], program: Path = SCRIPT, shell: list[str] | None = None, fd3: bool = True
) -> Run:
    """Runs the program like the launcher: app-like env, TOML expected on fd 3."""
    full_env = {"PATH": os.environ["PATH"], **env}
    command = [*(shell or []), str(program)]
    with tempfile.TemporaryFile() as out:
        # close_fds=False: with it, Python would close fd 3 after preexec_fn created it.
        proc = subprocess.run(
            command,
            env=full_env,
            capture_output=True,
            text=True,
            close_fds=False,
            preexec_fn=(lambda: os.dup2(out.fileno(), 3)) if fd3 else None,
        )
        out.seek(0)
        data = out.read()
    values = toml_io.loads(data.decode("utf-8"))
    assert all(isinstance(v, str) for v in values.values()), values
    return Run(proc.returncode, values, data, proc.stdout, proc.stderr)


class Tree:
    """A fake cgroup mount plus the /proc/self/cgroup file that points into it."""

    def __init__(self, root: Path) -> None:
        self.root = root / "cgroup"
        self.root.mkdir()
        self.proc = root / "proc-self-cgroup"

    def v2(self, path: str, value: str | bytes) -> Tree:
        return self._write(self.root / path.strip("/") / "memory.max", value)

    def v1(self, path: str, value: str | bytes) -> Tree:
        return self._write(self.root / "memory" / path.strip("/") / "memory.limit_in_bytes", value)

    def proc_lines(self, *lines: str) -> Tree:
        self.proc.write_text("".join(f"{line}\n" for line in lines))
        return self

    def _write(self, file: Path, value: str | bytes) -> Tree:
        file.parent.mkdir(parents=True, exist_ok=True)
        data = value if isinstance(value, bytes) else f"{value}\n".encode()
        file.write_bytes(data)
        return self

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "WEB_CONCURRENCY_CGROUP_ROOT": str(self.root),
            "WEB_CONCURRENCY_PROC_CGROUP": str(self.proc),
            **extra,
        }

    def run(self, **extra: str) -> Run:
        return run_program(self.env(**extra))


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def expected(mb: int) -> dict[str, str]:
    return {
        "WEB_CONCURRENCY": str(max(1, mb // 256)),
        "DYNO_RAM": str(mb),
        "WEB_CONCURRENCY_SET_BY": "scalingo/python",
    }


# --- the seed's table and the values around it --------------------------------------------


@pytest.mark.parametrize(
    ("size", "mb", "workers"),
    [("S", 256, "1"), ("M", 512, "2"), ("L", 1024, "4"), ("XL", 2048, "8"), ("2XL", 4096, "16")],
)
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_seed_table(tree: Tree, version: str, size: str, mb: int, workers: str) -> None:
    if version == "v2":
        tree.proc_lines("0::/").v2("/", str(mb * MIB))
    else:
        tree.proc_lines("4:memory:/", "1:cpu:/").v1("/", str(mb * MIB))
    result = tree.run()
    assert result.returncode == 0
    assert result.values == {
        "WEB_CONCURRENCY": workers,
        "DYNO_RAM": str(mb),
        "WEB_CONCURRENCY_SET_BY": "scalingo/python",
    }
    assert result.stdout == result.stderr == ""


@pytest.mark.parametrize("mb", [1, 100, 255, 257, 300, 511, 767, 768, 1000, 1536, 3000, 8192, 65536])
def test_values_between_and_beyond(tree: Tree, mb: int) -> None:
    tree.proc_lines("0::/").v2("/", str(mb * MIB))
    assert tree.run().values == expected(mb)


def test_bytes_round_down_to_whole_megabytes(tree: Tree) -> None:
    tree.proc_lines("0::/").v2("/", str(512 * MIB - 1))
    assert tree.run().values == expected(511)


def test_leading_zeros_are_decimal(tree: Tree) -> None:
    # $((...)) reads 0-prefixed numbers as octal; 08... would even be an error.
    tree.proc_lines("0::/").v2("/", "0" + str(1024 * MIB))
    assert tree.run().values == expected(1024)


def test_exactly_one_tib_is_a_limit(tree: Tree) -> None:
    tree.proc_lines("0::/").v2("/", str(TIB))
    assert tree.run().values == expected(TIB // MIB)


# --- cgroup v2 --------------------------------------------------------------------------------


def test_v2_nested_path_uses_the_smallest_limit_up_the_tree(tree: Tree) -> None:
    tree.proc_lines("0::/kubepods/pod42/ctr")
    tree.v2("/kubepods", str(4096 * MIB)).v2("/kubepods/pod42", str(1024 * MIB))
    tree.v2("/kubepods/pod42/ctr", "max")
    assert tree.run().values == expected(1024)


def test_v2_leaf_limit_smaller_than_parents(tree: Tree) -> None:
    tree.proc_lines("0::/a/b").v2("/a", str(2048 * MIB)).v2("/a/b", str(512 * MIB))
    assert tree.run().values == expected(512)


def test_v2_limit_only_at_the_mount_root(tree: Tree) -> None:
    # A container with its own cgroup namespace sees its cgroup as `/`.
    tree.proc_lines("0::/").v2("/", str(2048 * MIB))
    assert tree.run().values == expected(2048)


def test_v2_path_missing_in_the_mount_falls_back_to_the_mount_root(tree: Tree) -> None:
    # Without a cgroup namespace the path is the host's, the mount is the container's own.
    tree.proc_lines("0::/system.slice/docker-abc.scope").v2("/", str(512 * MIB))
    assert tree.run().values == expected(512)


def test_v2_max_everywhere_is_no_limit(tree: Tree) -> None:
    tree.proc_lines("0::/a/b").v2("/", "max").v2("/a", "max").v2("/a/b", "max")
    result = tree.run()
    assert (result.returncode, result.fd3, result.stderr) == (0, b"", "")


def test_v2_wins_over_v1(tree: Tree) -> None:
    tree.proc_lines("0::/", "4:memory:/").v2("/", str(512 * MIB)).v1("/", str(2048 * MIB))
    assert tree.run().values == expected(512)


def test_without_proc_file_the_mount_roots_are_read(tree: Tree) -> None:
    tree.v2("/", str(1024 * MIB))
    assert not tree.proc.exists()
    assert tree.run().values == expected(1024)


# --- cgroup v1 --------------------------------------------------------------------------------


def test_v1_nested_path_with_combined_controllers(tree: Tree) -> None:
    tree.proc_lines("9:name=systemd:/x", "5:cpuset,memory:/docker/abc", "0::/")
    tree.v1("/", "9223372036854771712").v1("/docker", str(4096 * MIB)).v1("/docker/abc", str(2048 * MIB))
    assert tree.run().values == expected(2048)


def test_hybrid_host_reads_v1_when_v2_has_no_memory_controller(tree: Tree) -> None:
    # Like a systemd "hybrid" host: a `0::` line, but memory is only in the v1 hierarchy.
    tree.proc_lines("4:memory:/process_api/abc", "0::/")
    (tree.root / "unified").mkdir()
    tree.v1("/", str(1024 * MIB))
    assert tree.run().values == expected(1024)


@pytest.mark.parametrize("value", ["9223372036854771712", str(TIB + 1), str(2 * TIB)])
def test_v1_values_above_one_tib_are_no_limit(tree: Tree, value: str) -> None:
    tree.proc_lines("4:memory:/").v1("/", value)
    result = tree.run()
    assert (result.returncode, result.fd3, result.stderr) == (0, b"", "")


def test_v1_unlimited_leaf_under_a_limited_parent(tree: Tree) -> None:
    tree.proc_lines("4:memory:/a/b").v1("/a", str(768 * MIB)).v1("/a/b", "9223372036854771712")
    assert tree.run().values == expected(768)


# --- nothing usable: a quiet no-op ------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n",
        b"abc\n",
        b"-536870912\n",
        b"512M\n",
        b"1.5e9\n",
        b"536870912 1\n",
        b"0\n",
        b"000\n",
        b"9" * 100 + b"\n",
        b"\xff\xfe\x00garbage",
        b"max max\n",
        b"$(touch /tmp/pwned)\n",
    ],
)
def test_garbage_limits_write_nothing(tree: Tree, content: bytes) -> None:
    tree.proc_lines("0::/", "4:memory:/").v2("/", content).v1("/", content)
    result = tree.run()
    assert (result.returncode, result.fd3, result.stdout, result.stderr) == (0, b"", "", "")


def test_garbage_proc_file_still_reads_the_mount_root(tree: Tree) -> None:
    tree.proc.write_bytes(b"\x00\xff no colons here\n::::\n0::relative/path\n7:memory\n")
    tree.v2("/", str(512 * MIB))
    assert tree.run().values == expected(512)


def test_directory_in_place_of_the_limit_file(tree: Tree) -> None:
    tree.proc_lines("0::/")
    (tree.root / "memory.max").mkdir()
    result = tree.run()
    assert (result.returncode, result.fd3, result.stderr) == (0, b"", "")


def test_fifo_in_place_of_the_limit_file_does_not_block(tree: Tree) -> None:
    tree.proc_lines("0::/")
    os.mkfifo(tree.root / "memory.max")
    result = tree.run()
    assert (result.returncode, result.fd3, result.stderr) == (0, b"", "")


def test_missing_cgroup_mount(tmp_path: Path) -> None:
    result = run_program(
        {"WEB_CONCURRENCY_CGROUP_ROOT": str(tmp_path / "nope"), "WEB_CONCURRENCY_PROC_CGROUP": "/nonexistent"}
    )
    assert (result.returncode, result.fd3, result.stdout, result.stderr) == (0, b"", "", "")


def test_closed_fd3_is_not_a_failure(tree: Tree) -> None:
    tree.proc_lines("0::/").v2("/", str(1024 * MIB))
    result = run_program(tree.env(), fd3=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_real_system_cgroup_never_fails() -> None:
    # Whatever this machine has (v1, v2, hybrid, nothing): exit 0 and valid TOML or nothing.
    result = run_program({})
    assert result.returncode == 0
    assert result.stderr == ""
    assert set(result.values) in (set(), {"WEB_CONCURRENCY", "DYNO_RAM", "WEB_CONCURRENCY_SET_BY"})


# --- user values ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["3", "0", "1", " 7 ", "auto"])
def test_user_value_is_never_overridden(tree: Tree, value: str) -> None:
    tree.proc_lines("0::/").v2("/", str(4096 * MIB))
    result = tree.run(WEB_CONCURRENCY=value)
    assert (result.returncode, result.fd3, result.stderr) == (0, b"", "")


def test_empty_user_value_counts_as_unset(tree: Tree) -> None:
    tree.proc_lines("0::/").v2("/", str(4096 * MIB))
    assert tree.run(WEB_CONCURRENCY="").values == expected(4096)


# --- portability and cost ---------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS, ids=" ".join)
@pytest.mark.parametrize(
    ("limits", "mb"),
    [
        ({"v2:/b": "max", "v1:/a": str(2048 * MIB)}, 2048),
        ({"v2:/b": "0" + str(768 * MIB), "v2:/": str(4096 * MIB)}, 768),
        ({"v2:/b": "garbage", "v1:/a": "9223372036854771712"}, None),
        ({"v2:/": "9" * 40}, None),
    ],
)
def test_runs_under_each_posix_shell(tree: Tree, shell: list[str], limits: dict[str, str], mb: int | None) -> None:
    tree.proc_lines("4:memory:/a", "0::/b")
    for key, value in limits.items():
        version, path = key.split(":")
        (tree.v2 if version == "v2" else tree.v1)(path, value)
    result = run_program(tree.env(), shell=shell)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.values == (expected(mb) if mb else {})


def test_uses_no_external_command(tree: Tree) -> None:
    # With an empty PATH any `cat`, `sed` or `awk` would fail: the result proves builtins only.
    tree.proc_lines("0::/a").v2("/a", str(2048 * MIB))
    assert run_program({**tree.env(), "PATH": str(tree.root / "empty")}).values == expected(2048)


def test_template_is_a_posix_sh_executable() -> None:
    assert SCRIPT.read_bytes().startswith(b"#!/bin/sh\n")
    assert SCRIPT.stat().st_mode & 0o111 == 0o111
    if shutil.which("dash"):
        subprocess.run(["dash", "-n", str(SCRIPT)], check=True)
    if shutil.which("shellcheck"):  # optional tool: `apt-get install shellcheck`
        subprocess.run(["shellcheck", "--shell=sh", str(SCRIPT)], check=True)


# --- the web-only message and the layer -------------------------------------------------------


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    layers = tmp_path / "layers"
    layers.mkdir()
    web_concurrency.install(Context(tmp_path, layers, REPO, {}))
    return layers / "web-concurrency"


def test_layer_is_launch_only_with_two_identical_executables(layer: Path) -> None:
    data = toml_io.load(layer.parent / "web-concurrency.toml")
    assert data["types"] == {"launch": True, "build": False, "cache": False}
    files = sorted(str(p.relative_to(layer)) for p in layer.rglob("*") if p.is_file())
    assert files == ["env.launch/PORT.default", "exec.d/web/web_concurrency", "exec.d/web_concurrency"]
    assert (layer / "env.launch" / "PORT.default").read_text() == "8080"  # no newline: it is the value
    for name in files[1:]:
        path = layer / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        assert path.read_bytes() == SCRIPT.read_bytes()


def test_reinstall_clears_a_restored_layer(tmp_path: Path, layer: Path) -> None:
    (layer / "exec.d" / "stale").write_text("#!/bin/sh\nexit 1\n")
    web_concurrency.install(Context(tmp_path, layer.parent, REPO, {}))
    assert not (layer / "exec.d" / "stale").exists()
    assert (layer / "exec.d" / "web_concurrency").is_file()


def launch(layer: Path, env: dict[str, str], process_type: str) -> tuple[dict[str, str], str]:
    """The launcher's order: exec.d/ for every process, then exec.d/<type>/ with the result."""
    current = dict(env)
    messages = ""
    programs = [layer / "exec.d" / "web_concurrency", layer / "exec.d" / process_type / "web_concurrency"]
    for program in programs:
        if program.is_file():
            result = run_program(current, program=program)
            assert result.returncode == 0
            current.update(result.values)
            messages += result.stderr
    return current, messages


def test_web_process_gets_one_line_about_the_computed_value(tree: Tree, layer: Path) -> None:
    tree.proc_lines("0::/").v2("/", str(1024 * MIB))
    env, messages = launch(layer, tree.env(), "web")
    assert env["WEB_CONCURRENCY"] == "4"
    lines = messages.splitlines()
    assert len(lines) == 1
    assert "WEB_CONCURRENCY=4" in lines[0] and "1024 MB" in lines[0]


def test_other_processes_get_the_value_silently(tree: Tree, layer: Path) -> None:
    tree.proc_lines("0::/").v2("/", str(2048 * MIB))
    env, messages = launch(layer, tree.env(), "worker")
    assert (env["WEB_CONCURRENCY"], env["DYNO_RAM"], messages) == ("8", "2048", "")


def test_web_process_with_user_value(tree: Tree, layer: Path) -> None:
    tree.proc_lines("0::/").v2("/", str(2048 * MIB))
    env, messages = launch(layer, tree.env(WEB_CONCURRENCY="3"), "web")
    assert env["WEB_CONCURRENCY"] == "3" and "WEB_CONCURRENCY_SET_BY" not in env
    assert messages.count("\n") == 1 and "WEB_CONCURRENCY=3" in messages and "set by the app" in messages


def test_web_process_without_limit(tree: Tree, layer: Path) -> None:
    tree.proc_lines("0::/").v2("/", "max")
    env, messages = launch(layer, tree.env(), "web")
    assert "WEB_CONCURRENCY" not in env
    assert messages.count("\n") == 1 and "no container memory limit" in messages


def test_web_copy_alone_writes_nothing(tree: Tree, layer: Path) -> None:
    tree.proc_lines("0::/").v2("/", str(1024 * MIB))
    result = run_program(tree.env(), program=layer / "exec.d" / "web" / "web_concurrency")
    assert result.fd3 == b"" and result.returncode == 0


# --- through the local lifecycle's launcher -------------------------------------------------


@pytest.mark.parametrize(("process_type", "lines"), [("web", 1), ("worker", 0)])
def test_through_the_local_launcher(
    tree: Tree, tmp_path: Path, capfd: pytest.CaptureFixture[str], process_type: str, lines: int
) -> None:
    from python_buildpack_dev.emulated.launcher import Launcher
    from python_buildpack_dev.platform.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    workspace.app.mkdir(parents=True)
    workspace.buildpack_layers.mkdir(parents=True)
    web_concurrency.install(Context(workspace.app, workspace.buildpack_layers, REPO, {}))
    tree.proc_lines("0::/app").v2("/app", str(2048 * MIB))
    env = Launcher(workspace).environment(process_type, tree.env())
    assert (env["WEB_CONCURRENCY"], env["DYNO_RAM"], env["WEB_CONCURRENCY_SET_BY"]) == ("8", "2048", "scalingo/python")
    err = capfd.readouterr().err
    assert err.count("\n") == lines and ("WEB_CONCURRENCY=8" in err) == bool(lines)
