"""Detect through the real bin/detect, as the lifecycle runs it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.models import BuildPlan

BUILDPACK_DIR = Path(__file__).resolve().parents[2]


def run_detect(app: Path, tmp_path: Path, buildpack_dir: Path = BUILDPACK_DIR, **env: str) -> tuple[int, str, Path]:
    plan = tmp_path / "plan.toml"
    full_env = {"PATH": os.environ["PATH"], "CNB_BUILD_PLAN_PATH": str(plan),
                "CNB_BUILDPACK_DIR": str(buildpack_dir), "CNB_PLATFORM_DIR": str(tmp_path / "platform"), **env}
    proc = subprocess.run([str(buildpack_dir / "bin" / "detect")], cwd=app, env=full_env,
                          capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr, plan


@pytest.mark.parametrize("marker", ["Pipfile", "requirements.txt", "poetry.lock", "uv.lock"])
def test_passes_and_writes_plan(tmp_path: Path, marker: str) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / marker).write_text("")
    code, out, plan = run_detect(app, tmp_path)
    assert code == 0, out
    assert marker in out
    parsed = BuildPlan.model_validate(toml_io.load(plan))
    assert [p.name for p in parsed.provides] == ["python"]
    assert [r.name for r in parsed.requires] == ["python"]


NOT_FOUND = "No Python app detected: none of Pipfile, requirements.txt, poetry.lock, uv.lock is at the root of the app."
WITH_PIP = "no requirements.txt: add one holding the line `.` (pip then installs the project and its dependencies)."


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("empty", NOT_FOUND),
        ("nested", NOT_FOUND),
        ("dir-named-requirements", NOT_FOUND),
        (
            "pyproject-only",
            "No Python app detected: pyproject.toml found but no uv.lock or poetry.lock: run `uv lock` or "
            "`poetry lock` and commit the lock file.",
        ),
        ("setup.py", f"No Python app detected: setup.py found but {WITH_PIP}"),
        ("setup.cfg", f"No Python app detected: setup.cfg found but {WITH_PIP}"),
    ],
)
def test_fails_with_100_and_says_what_it_looked_for(tmp_path: Path, layout: str, message: str) -> None:
    app = tmp_path / "app"
    app.mkdir()
    if layout == "pyproject-only":
        (app / "pyproject.toml").write_text("[project]\nname='x'\n")
    elif layout in ("setup.py", "setup.cfg"):
        (app / layout).write_text("")
    elif layout == "nested":
        (app / "sub").mkdir()
        (app / "sub" / "requirements.txt").write_text("flask")
    elif layout == "dir-named-requirements":
        (app / "requirements.txt").mkdir()
    code, out, plan = run_detect(app, tmp_path)
    assert code == 100
    assert out == message + "\n"
    assert not plan.exists()


def test_malformed_files_never_crash_detect(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Pipfile").write_bytes(b"\x00\xff not toml [[[")
    (app / "requirements.txt").symlink_to("/nonexistent/target")
    code, out, _ = run_detect(app, tmp_path)
    assert code == 0, out


def test_works_from_read_only_buildpack_dir_and_app_dir(tmp_path: Path) -> None:
    # (as root the write bits do not stop writes; the app dir is checked for changes instead)
    bp = tmp_path / "bp"
    shutil.copytree(BUILDPACK_DIR, bp, ignore=shutil.ignore_patterns(".venv", ".git", ".tools", "tests", "__pycache__", ".*cache"))
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("flask\n")
    for root in (bp, app):
        for path in [root, *root.rglob("*")]:
            mode = path.lstat().st_mode
            if not path.is_symlink():
                path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        code, out, plan = run_detect(app, tmp_path, buildpack_dir=bp)
        assert code == 0, out
        assert plan.is_file()
        assert sorted(p.name for p in app.iterdir()) == ["requirements.txt"]
    finally:
        for root in (bp, app):
            for path in [root, *root.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(path.lstat().st_mode | stat.S_IWUSR)


def test_detect_runs_no_interpreter(tmp_path: Path) -> None:
    """bin/detect is sh builtins: it passes with no python3 anywhere and an empty PATH."""
    bp = tmp_path / "bp"
    (bp / "bin").mkdir(parents=True)
    shutil.copy(BUILDPACK_DIR / "bin" / "detect", bp / "bin" / "detect")
    shutil.copytree(BUILDPACK_DIR / "lib", bp / "lib")
    app = tmp_path / "app"
    app.mkdir()
    (app / "uv.lock").write_text("")
    code, out, plan = run_detect(app, tmp_path, buildpack_dir=bp, PATH="")
    assert (code, out) == (0, "Python app detected (uv.lock)\n")
    assert [p.name for p in BuildPlan.model_validate(toml_io.load(plan)).requires] == ["python"]


def test_build_without_interpreter_says_what_it_needs(tmp_path: Path) -> None:
    bp = tmp_path / "bp"
    (bp / "bin").mkdir(parents=True)
    shutil.copy(BUILDPACK_DIR / "bin" / "build", bp / "bin" / "build")
    shutil.copytree(BUILDPACK_DIR / "lib", bp / "lib")
    empty_path = tmp_path / "emptybin"
    empty_path.mkdir()
    app = tmp_path / "app"
    app.mkdir()
    proc = subprocess.run([str(bp / "bin" / "build")], cwd=app, env={"PATH": str(empty_path)},
                          capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "needs a Python 3.8+ interpreter" in out
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("phase", ["detect", "build"])
def test_entry_points_start_with_an_empty_path(tmp_path: Path, phase: str) -> None:
    """The lifecycle passes the build image's PATH, which may be empty: no external tool before Python."""
    app = tmp_path / "app"
    app.mkdir()
    env = {"PATH": "", "CNB_BUILDPACK_DIR": str(BUILDPACK_DIR), "CNB_PLATFORM_DIR": str(tmp_path),
           "CNB_BUILD_PLAN_PATH": str(tmp_path / "plan.toml")}
    # build without CNB_LAYERS_DIR: the Python code runs and reports the missing lifecycle input
    proc = subprocess.run([str(BUILDPACK_DIR / "bin" / phase)], cwd=app, env=env, capture_output=True, text=True,
                          check=False)
    assert "not found" not in proc.stderr, proc.stderr
    if phase == "detect":
        assert proc.returncode == 100, proc.stdout + proc.stderr  # no Python app here: a clean "fail"
    else:
        assert "CNB_LAYERS_DIR" in proc.stdout + proc.stderr
