"""bin/pre_compile and bin/post_compile, run for real from scratch apps."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support.boxes import box

from python_buildpack.app.hooks import run_hook
from python_buildpack.errors import BuildError
from python_buildpack.step_context import Context

ENV = {"PATH": os.environ["PATH"], "HOOK_VAR": "from-the-build"}


def write_hook(app: Path, body: str | bytes, name: str = "pre_compile", mode: int = 0o755) -> Path:
    path = app / "bin" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    path.chmod(mode)
    return path


def test_no_hook_is_a_no_op(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile") is False
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("name", ["pre_compile", "post_compile"])
def test_runs_in_the_app_dir_with_the_given_env(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOT_GIVEN", "leak")
    write_hook(
        tmp_path,
        '#!/bin/sh\necho "cwd=$(pwd)"\necho "var=$HOOK_VAR leak=${NOT_GIVEN-none}"\n'
        "echo to-stderr >&2\ntouch made-by-hook\n",
        name=name,
    )
    assert run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, name) is True
    assert (tmp_path / "made-by-hook").is_file()
    out = capsys.readouterr().out
    header, *lines = out.splitlines()[1:]  # after the blank line that opens a section
    assert header == f"## {name.replace('_c', '-c').capitalize()} hook"
    assert lines[0] == f"   - Running bin/{name} hook ..."
    assert lines[1:4] == [f"     cwd={tmp_path}", "     var=from-the-build leak=none", "     to-stderr"]
    assert lines[4].startswith("     done (")


def test_failure_shows_status_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_hook(tmp_path, "#!/bin/sh\necho compiling assets\necho 'npm: not found' >&2\nexit 3\n")
    with pytest.raises(BuildError) as raised:
        run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    assert box(raised.value) == (
        "! Error: bin/pre_compile failed (exited with status 3)\n"
        "!\n"
        "! The build hook bin/pre_compile exited with status 3; its output is above.\n"
        "! Fix the hook (it runs from the root of the app with the build environment), then build\n"
        "! again."
    )
    assert raised.value.output == ""  # streamed as it ran, not repeated in the error
    assert capsys.readouterr().out.count("npm: not found") == 1


def test_killed_hook(tmp_path: Path) -> None:
    write_hook(tmp_path, "#!/bin/sh\nkill -9 $$\n", name="post_compile")
    with pytest.raises(BuildError) as raised:
        run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "post_compile")
    assert "killed by SIGKILL" in raised.value.title
    assert "out of memory" in raised.value.details


def test_long_failing_output_is_shown_once_and_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_hook(tmp_path, "#!/bin/sh\ni=0\nwhile [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done\nexit 1\n")
    with pytest.raises(BuildError) as raised:
        run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    assert raised.value.output == ""
    out = capsys.readouterr().out
    assert [line.strip() for line in out.splitlines() if "line " in line] == [f"line {i}" for i in range(100)]


def test_non_utf8_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_hook(tmp_path, b"#!/bin/sh\nprintf 'caf\\351\\n'\n")
    run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    assert "caf\ufffd" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_not_executable_runs_with_its_shebang(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bash = shutil.which("bash")
    # `[[ ]]` and BASH_VERSION only work if bash, not sh, runs it.
    write_hook(tmp_path, f'#!{bash}\n[[ -n "$BASH_VERSION" ]] && echo "bash ok"\n', mode=0o644)
    run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    out = capsys.readouterr().out
    assert f"bin/pre_compile is not executable: running it with {bash}" in out
    assert "bash ok" in out


def test_not_executable_env_shebang_with_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_hook(tmp_path, "#!/usr/bin/env sh\necho via env\n", mode=0o600)
    run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    out = capsys.readouterr().out
    assert "running it with /usr/bin/env sh" in out and "via env" in out


def test_not_executable_without_shebang_runs_with_sh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_hook(tmp_path, "echo plain script\n", mode=0o644)
    run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    out = capsys.readouterr().out
    assert "running it with sh" in out and "plain script" in out


def test_executable_without_shebang_runs_with_sh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_hook(tmp_path, "echo no shebang\n")
    run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    out = capsys.readouterr().out
    assert "has no `#!` line: running it with sh" in out and "no shebang" in out


def test_crlf_shebang_is_explained(tmp_path: Path) -> None:
    write_hook(tmp_path, b"#!/bin/sh\r\necho hi\r\n")
    with pytest.raises(BuildError) as raised:
        run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    assert raised.value.title == "bin/pre_compile could not be started"
    assert "CRLF" in raised.value.details and "dos2unix" in raised.value.details


def test_missing_interpreter_is_explained(tmp_path: Path) -> None:
    write_hook(tmp_path, "#!/nonexistent/ruby\nputs 1\n")
    with pytest.raises(BuildError) as raised:
        run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
    assert "interpreter does not exist" in raised.value.details


def test_hook_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "bin" / "pre_compile").mkdir(parents=True)
    with pytest.raises(BuildError, match="is not a file"):
        run_hook(Context(tmp_path, tmp_path / "layers", tmp_path, {}), ENV, "pre_compile")
