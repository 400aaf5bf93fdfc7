"""A committed virtual environment or Python installation fails the build before any download."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_buildpack.app.source_checks import check_committed_environments
from python_buildpack.errors import BuildError


@pytest.mark.parametrize("name", [".venv", "venv"])
def test_committed_virtualenv_fails(tmp_path: Path, name: str) -> None:
    (tmp_path / name / "bin").mkdir(parents=True)
    (tmp_path / name / "pyvenv.cfg").write_text("home = /usr/bin\n")
    with pytest.raises(BuildError) as excinfo:
        check_committed_environments(tmp_path)
    error = excinfo.value
    assert error.title == f"The app contains a virtual environment: {name}/"
    assert f"    {name}/bin/" in error.details and f"    {name}/pyvenv.cfg" in error.details
    assert f"git rm -r --cached {name} && echo '{name}/' >> .gitignore" in error.details


def test_a_venv_directory_without_pyvenv_cfg_is_app_code(tmp_path: Path) -> None:
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "settings.py").write_text("")
    check_committed_environments(tmp_path)


@pytest.mark.parametrize("name", [".heroku/python", ".scalingo/python"])
def test_committed_runtime_of_the_classic_buildpack_fails(tmp_path: Path, name: str) -> None:
    (tmp_path / name / "bin").mkdir(parents=True)
    with pytest.raises(BuildError) as excinfo:
        check_committed_environments(tmp_path)
    assert excinfo.value.title == f"The app contains a Python installation: {name}/"
    assert f"    {name}/bin/" in excinfo.value.details


def test_long_listing_is_cut(tmp_path: Path) -> None:
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("")
    for i in range(20):
        (tmp_path / ".venv" / f"f{i:02}").write_text("")
    with pytest.raises(BuildError) as excinfo:
        check_committed_environments(tmp_path)
    assert "... (9 more)" in excinfo.value.details
