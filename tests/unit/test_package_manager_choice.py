"""Which package manager an app gets, from the files at its root (README, "Package managers")."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.deps import DepsApp

from python_buildpack.errors import BuildError
from python_buildpack.package_managers.choice import choose

PIPFILE = ("Pipfile", "Pipfile.lock")


def app_with(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / name).write_text("", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "manager", "used"),
    [
        (PIPFILE, "pipenv", PIPFILE),
        (("requirements.txt",), "pip", ("requirements.txt",)),
        (("poetry.lock", "pyproject.toml"), "poetry", ("poetry.lock", "pyproject.toml")),
        (("uv.lock", "pyproject.toml"), "uv", ("uv.lock", "pyproject.toml")),
    ],
)
def test_each_manager_alone(tmp_path: Path, files: tuple[str, ...], manager: str, used: tuple[str, ...]) -> None:
    choice = choose(app_with(tmp_path, *files))
    assert (choice.manager, choice.files, choice.ignored) == (manager, used, ())


@pytest.mark.parametrize(
    ("files", "manager", "ignored"),
    [
        ((*PIPFILE, "requirements.txt", "poetry.lock", "uv.lock", "pyproject.toml"), "pipenv",
         ("requirements.txt", "poetry.lock", "pyproject.toml", "uv.lock")),
        (("requirements.txt", "poetry.lock", "pyproject.toml"), "pip", ("poetry.lock", "pyproject.toml")),
        (("requirements.txt", "uv.lock", "pyproject.toml"), "pip", ("uv.lock", "pyproject.toml")),
        (("poetry.lock", "uv.lock", "pyproject.toml"), "poetry", ("uv.lock",)),
    ],
)  # fmt: skip
def test_first_in_order_wins_and_the_others_are_named(
    tmp_path: Path, files: tuple[str, ...], manager: str, ignored: tuple[str, ...]
) -> None:
    choice = choose(app_with(tmp_path, *files))
    assert choice.manager == manager
    assert choice.ignored == ignored


def test_pipfile_without_lock_yields_to_requirements(tmp_path: Path) -> None:
    choice = choose(app_with(tmp_path, "Pipfile", "requirements.txt"))
    assert choice.manager == "pip"
    assert choice.ignored == ("Pipfile",)
    assert choice.incomplete == ("Pipfile without Pipfile.lock",)


def test_a_pyproject_alone_is_not_a_poetry_or_uv_app(tmp_path: Path) -> None:
    choice = choose(app_with(tmp_path, "requirements.txt", "pyproject.toml"))
    assert (choice.manager, choice.ignored) == ("pip", ())


@pytest.mark.parametrize(
    ("files", "title", "fix"),
    [
        (("Pipfile",), "Pipfile found without Pipfile.lock", "pipenv lock"),
        (("poetry.lock",), "poetry.lock found without pyproject.toml", "pyproject.toml"),
        (("uv.lock",), "uv.lock found without pyproject.toml", "pyproject.toml"),
        (("pyproject.toml",), "No dependency file found", "poetry lock"),
        ((), "No dependency file found", "requirements.txt"),
    ],
)
def test_missing_files_are_clear_errors(tmp_path: Path, files: tuple[str, ...], title: str, fix: str) -> None:
    with pytest.raises(BuildError) as raised:
        choose(app_with(tmp_path, *files))
    assert raised.value.title == title
    assert fix in raised.value.details


def test_directories_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").mkdir()
    app_with(tmp_path, "uv.lock", "pyproject.toml")
    assert choose(tmp_path).manager == "uv"


def test_missing_lock_fails_before_anything_is_installed(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Pipfile").write_text('[packages]\nflask = "*"\n', encoding="utf-8")
    layers = tmp_path / "layers"
    layers.mkdir()
    outcome = DepsApp(app, layers).install()
    assert outcome.error is not None
    assert outcome.error.title == "Pipfile found without Pipfile.lock"
    assert "`pipenv lock`" in outcome.error.details
    assert list(layers.iterdir()) == []
