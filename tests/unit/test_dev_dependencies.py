"""BP_PYTHON_INSTALL_DEV_DEPENDENCIES: what each package manager runs, the setting's values,
the venv's reuse key, and real installs with each manager (e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_buildpack.errors import BuildError
from python_buildpack.layers.tools import ToolInstall
from python_buildpack.layers.venv import VenvMetadata
from python_buildpack.package_managers.pip import Pip
from python_buildpack.package_managers.pipenv import Pipenv
from python_buildpack.package_managers.poetry import Poetry
from python_buildpack.package_managers.uv import Uv
from python_buildpack.project import DEV_SETTING, dev_dependencies

VENV = Path("/layers/venv")


def words(commands: list[list[str | Path]]) -> list[str]:
    return [str(part) for command in commands for part in command]


@pytest.mark.parametrize(
    ("installer", "added", "removed"),
    [(Pipenv(), "--dev", None), (Poetry(), "--all-groups", "main"), (Uv(), None, "--no-default-groups")],
)
def test_each_manager_installs_its_development_groups(
    installer: Pipenv | Poetry | Uv, added: str | None, removed: str | None, tmp_path: Path
) -> None:
    tool = ToolInstall(installer.name, installer.version, tmp_path)
    production = words(installer.commands(tool, VENV))
    development = words(installer.for_development(tmp_path).commands(tool, VENV))
    assert installer.dev is False  # the shared installer is not changed
    if added:
        assert added not in production and added in development
    if removed:
        assert removed in production and removed not in development


def test_pip_adds_requirements_test_txt_when_present(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("flask\n")
    (tmp_path / "requirements-test.txt").write_text("-r requirements.txt\npytest\n-c constraints.txt\n")
    (tmp_path / "constraints.txt").write_text("pytest<9\n")
    tool = ToolInstall("pip", Pip().version, tmp_path)
    pip = Pip().for_development(tmp_path)
    assert words(pip.commands(tool, VENV))[-4:] == ["-r", "requirements.txt", "-r", "requirements-test.txt"]
    assert set(pip.inputs(tmp_path)) == {"requirements.txt", "requirements-test.txt", "constraints.txt"}
    assert set(Pip().inputs(tmp_path)) == {"requirements.txt"}
    assert "requirements-test.txt" not in words(Pip().commands(tool, VENV))

    (tmp_path / "requirements-test.txt").unlink()
    without = Pip().for_development(tmp_path)
    assert "requirements-test.txt" not in words(without.commands(tool, VENV))
    assert without.dev is True


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("YES", True), ("", False), ("off", False)]
)
def test_setting_values(value: str, expected: bool) -> None:
    assert dev_dependencies({DEV_SETTING: value}) is expected
    assert dev_dependencies({}) is False


def test_invalid_setting_is_an_error() -> None:
    with pytest.raises(BuildError) as excinfo:
        dev_dependencies({DEV_SETTING: "maybe"})
    assert excinfo.value.title == "Invalid BP_PYTHON_INSTALL_DEV_DEPENDENCIES: 'maybe'"
    assert "true or false" in excinfo.value.details


def test_switching_the_setting_rebuilds_the_venv() -> None:
    base = {
        "python_version": "3.12.1", "stack": "scalingo-24", "arch": "amd64", "package_manager": "uv",
        "package_manager_version": "1", "app_dir": "/workspace", "inputs": {"uv.lock": "0" * 64},
    }  # fmt: skip
    old = VenvMetadata.model_validate(base)  # metadata of a build before the setting existed
    assert old.dev_dependencies is False
    new = VenvMetadata.model_validate(base | {"dev_dependencies": True})
    assert new.changes_from(old) == ["BP_PYTHON_INSTALL_DEV_DEPENDENCIES changed from False to True"]
