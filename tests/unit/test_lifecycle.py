"""The local lifecycle itself, driven by a tiny shell buildpack that records what it sees."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from support.recorder import BUILD, DESCRIPTOR, DETECT

from python_buildpack_dev.emulated.builder import Builder
from python_buildpack_dev.emulated.launcher import Launcher, run_exec_d
from python_buildpack_dev.platform.phases import ImageTarget, LaunchError
from python_buildpack_dev.platform.references import layout_dir, named_after
from python_buildpack_dev.platform.workspace import NORMALISED_MTIME, Workspace


@pytest.fixture
def buildpack(tmp_path: Path) -> Path:
    bp = tmp_path / "bp"
    (bp / "bin").mkdir(parents=True)
    (bp / "buildpack.toml").write_text(DESCRIPTOR)
    for name, text in (("detect", DETECT), ("build", BUILD)):
        path = bp / "bin" / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return bp


@pytest.fixture
def app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "marker").write_text("")
    return app


def builder(bp: Path, ws: Workspace, **env: str) -> Builder:
    return Builder(bp, ws, target=ImageTarget(distro_version="24.04", arch="amd64"), platform_env=env)


def test_detect_fail_stops_the_build(buildpack: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = builder(buildpack, Workspace(tmp_path / "ws")).build(empty)
    assert result.detect.exit_code == 100 and result.build is None and not result.ok


def test_restore_rules_between_builds(buildpack: Path, app: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    first = builder(buildpack, ws, USER_SETTING="from-platform").build(app)
    assert first.ok, first.output
    assert "restored" not in first.output
    assert 'plan: entries = [' in first.output and 'name = "python"' in first.output
    assert "platform-env: from-platform" in first.output
    assert "target: ubuntu 24.04" in first.output
    assert (ws.platform / "env" / "USER_SETTING").read_text() == "from-platform"

    second = builder(buildpack, ws).build(app)
    assert second.ok, second.output
    # cached layer: metadata (without [types]) and contents
    assert "restored-toml cached: [metadata] build = 1" in second.output
    assert "restored-dir cached: 1" in second.output
    # launch-only layer: metadata only
    assert "restored-toml launchonly: [metadata] v = 1" in second.output
    assert "restored-dir launchonly" not in second.output
    # build-only and untyped layers: gone
    assert "buildonly" not in second.output and "untyped" not in second.output
    assert (ws.cache / "cached" / "data").read_text() == "2\n"
    assert not (ws.cache / "untyped").exists() and not (ws.image_layers / "untyped").exists()
    assert not (ws.image_layers / "buildonly").exists()


def test_failed_build_keeps_previous_cache_and_image(buildpack: Path, app: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert builder(buildpack, ws).build(app).ok
    failed = builder(buildpack, ws, FAIL_BUILD="1").build(app)
    assert not failed.ok and failed.build is not None and failed.build.exit_code == 7
    again = builder(buildpack, ws).build(app)
    assert "restored-dir cached: 1" in again.output


def test_launch_only_layer_reused_from_image(buildpack: Path, app: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert builder(buildpack, ws).build(app).ok
    assert builder(buildpack, ws, KEEP_LAUNCH="1").build(app).ok
    assert (ws.image_layers / "launchonly" / "bin" / "greet").is_file()


def test_export_normalises_mtimes_and_keeps_app_output(buildpack: Path, app: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert builder(buildpack, ws).build(app).ok
    assert (ws.image_app / "output-in-app").read_text() == "built\n"
    assert os.stat(ws.image_layers / "launchonly" / "bin" / "greet").st_mtime == NORMALISED_MTIME
    assert not (app / "output-in-app").exists(), "the source app must not be modified"


def test_launch_env_exec_d_and_process(buildpack: Path, app: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert builder(buildpack, ws).build(app).ok
    launcher = Launcher(ws)
    import subprocess

    proc = launcher.popen(None, {}, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=10)
    assert out.decode().strip() == "hello from world exec.d ran"
    # a user value beats a .default
    proc = launcher.popen("web", {"GREETING_TARGET": "user"}, stdout=subprocess.PIPE)
    assert proc.communicate(timeout=10)[0].decode().strip() == "hello from user exec.d ran"
    with pytest.raises(LaunchError, match="no process of type 'worker'"):
        launcher.process("worker")


def test_exec_d_bad_output_fails_launch(tmp_path: Path) -> None:
    program = tmp_path / "bad"
    program.write_text("#!/bin/sh\necho 'X = 4' >&3\n")  # unquoted number: not a string
    program.chmod(0o755)
    with pytest.raises(LaunchError, match="non-string"):
        run_exec_d(program, {"PATH": os.environ["PATH"]}, tmp_path)
    program.write_text("#!/bin/sh\nexit 3\n")
    with pytest.raises(LaunchError, match="status 3"):
        run_exec_d(program, {"PATH": os.environ["PATH"]}, tmp_path)


def test_invalid_launch_toml_is_reported(buildpack: Path, app: Path, tmp_path: Path) -> None:
    build = buildpack / "bin" / "build"
    build.write_text(build.read_text().replace('command = ["greet"]', 'command = "greet"'))
    result = builder(buildpack, Workspace(tmp_path / "ws")).build(app)
    assert not result.ok
    assert any("invalid launch.toml" in p for p in result.problems)


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ("printf 'launch = true\\n[types]\\nlaunch = true\\n'", "should be in the types table"),
        ("printf '[types]\\nlaunch = \"yes\"\\n'", "destination has type boolean"),
    ],
    ids=["top-level-flag", "string-flag"],
)
def test_layer_toml_decoded_as_the_reference_does(
    buildpack: Path, app: Path, tmp_path: Path, replacement: str, message: str
) -> None:
    build = buildpack / "bin" / "build"
    original = "printf '[types]\\nlaunch = true\\n[metadata]\\nv = 1\\n'"
    assert original in build.read_text()
    build.write_text(build.read_text().replace(original, replacement))
    result = builder(buildpack, Workspace(tmp_path / "ws")).build(app)
    assert not result.ok
    assert any("invalid launchonly.toml" in p and message in p for p in result.problems), result.problems


def test_no_target_match_fails_detect(buildpack: Path, app: Path, tmp_path: Path) -> None:
    result = Builder(buildpack, Workspace(tmp_path / "ws"), target=ImageTarget(distro_version="22.04", arch="amd64")).build(app)
    assert result.detect.exit_code == 100 and result.build is None
    assert "unable to satisfy target os/arch constraints" in result.detect.output


REFERENCE_PATH = "abcdefghijklmnopqrstuvwxyz0123456789._-/"


@pytest.mark.parametrize("name", ["App", "My App", "Ünïcode_app", "..."])
def test_workspaces_and_layout_dirs_are_valid_reference_paths(tmp_path: Path, name: str) -> None:
    """The reference engine names images by their path under the layout directory: an app dir or a
    --workdir of any name (`~/Builds/App`) gives the lifecycle a valid one, the same each build."""
    ws = Workspace.for_app(tmp_path / name, tmp_path / "Builds" / name)
    assert set(ws.root.name) <= set(REFERENCE_PATH) and ws.root.name == named_after(tmp_path / name)
    ws.layout.mkdir(parents=True)
    given = layout_dir(ws.layout)
    assert set(str(given)) <= set(REFERENCE_PATH), given
    assert given.resolve() == ws.layout.resolve() and layout_dir(ws.layout) == given
    assert layout_dir(tmp_path / "layout") == tmp_path / "layout"  # a valid path is used as it is
