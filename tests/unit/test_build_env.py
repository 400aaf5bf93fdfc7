"""Variables from the platform or earlier buildpacks that would break the installs."""

from __future__ import annotations

import pytest

from python_buildpack.app.env_checks import sanitize
from python_buildpack.errors import BuildError


def test_pythonhome_and_pythonpath_are_removed_with_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    settings, env = sanitize({"PYTHONPATH": "/x"}, {"PYTHONHOME": "/usr", "PYTHONPATH": "/x", "PATH": "/bin"})
    assert settings == {} and env == {"PATH": "/bin"}
    out = capsys.readouterr().out
    assert "Removed PYTHONHOME from the build environment" in out
    assert "Removed PYTHONPATH from the build environment" in out


def test_nothing_to_say_for_a_clean_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert sanitize({"PIP_INDEX_URL": "https://x"}, {"PATH": "/bin"}) == (
        {"PIP_INDEX_URL": "https://x"},
        {"PATH": "/bin"},
    )
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "name", ["PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "UV_PROJECT_ENVIRONMENT", "POETRY_VIRTUALENVS_CREATE"]
)
def test_install_redirects_are_refused(name: str) -> None:
    with pytest.raises(BuildError) as excinfo:
        sanitize({name: "1"}, {})
    assert excinfo.value.title == f"{name} must not be set"
    assert f"- {name}='1': " in excinfo.value.details
    assert f"env-unset {name}" in excinfo.value.details


def test_every_refused_variable_is_named_at_once() -> None:
    with pytest.raises(BuildError) as excinfo:
        sanitize({"PIP_TARGET": "/t"}, {"UV_PROJECT_ENVIRONMENT": "/u", "PIP_PREFIX": "/p"})
    assert excinfo.value.title == "PIP_PREFIX, PIP_TARGET, UV_PROJECT_ENVIRONMENT must not be set"


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_false_booleans_are_what_the_buildpack_does_anyway(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings, _ = sanitize({"PIP_USER": value, "POETRY_VIRTUALENVS_CREATE": value}, {})
    assert settings == {"PIP_USER": value, "POETRY_VIRTUALENVS_CREATE": value}
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "name", ["VIRTUAL_ENV", "PYTHONUSERBASE", "POETRY_VIRTUALENVS_IN_PROJECT", "POETRY_VIRTUALENVS_PATH"]
)
def test_harmless_redirects_are_ignored_with_a_warning(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings, env = sanitize({name: "/somewhere"}, {name: "/somewhere", "PATH": "/bin"})
    assert name not in settings and name not in env
    err = capsys.readouterr().err
    assert f"Warning: Ignoring {name}" in err
    assert f"{name}: " in err
