"""Django detection without Django: the probes that decide whether collectstatic runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.django_probe import wrapper_python
from support.fake_runner import FakeRunner

from python_buildpack.app.django import collectstatic, django_installed
from python_buildpack.step_context import Context


def test_not_a_django_app(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert collectstatic(Context(tmp_path, tmp_path / "layers", tmp_path, {}), {}, Path(sys.executable)) is False
    assert capsys.readouterr() == ("", "")


def test_manage_py_without_django(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "venv"
    (prefix / "lib" / "python3.12" / "site-packages" / "requests").mkdir(parents=True)
    (prefix / "bin").mkdir()
    (tmp_path / "manage.py").write_text("")
    assert collectstatic(Context(tmp_path, tmp_path / "layers", tmp_path, {}), {}, prefix / "bin" / "python") is False
    assert "Django is not installed: skipping collectstatic" in capsys.readouterr().out




def test_django_installed_probes_an_unusual_layout(tmp_path: Path) -> None:
    ctx = Context(tmp_path, tmp_path / "layers", tmp_path, {})
    assert django_installed(ctx, {}, wrapper_python(tmp_path, Path(sys.executable))) is False  # no Django here
    assert django_installed(ctx, {}, tmp_path / "missing" / "bin" / "python") is False


def test_the_probe_runs_through_the_build_runner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeRunner()  # answers 0: "Django is importable"
    ctx = Context(tmp_path, tmp_path / "layers", tmp_path, {}, run=runner)
    python = wrapper_python(tmp_path, Path(sys.executable))
    assert django_installed(ctx, {"PATH": "/venv/bin"}, python) is True
    assert runner.commands[0].startswith("python import importlib") and runner.environments == [{"PATH": "/venv/bin"}]
    assert capsys.readouterr() == ("", "")


