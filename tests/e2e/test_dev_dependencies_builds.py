"""BP_PYTHON_INSTALL_DEV_DEPENDENCIES: what each package manager runs, the setting's values,
the venv's reuse key, and real installs with each manager (e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.deps import DepsApp, copy_app, distributions

from python_buildpack.project import DEV_SETTING


@pytest.mark.e2e
@pytest.mark.parametrize(("fixture", "manager"), [("uv-basic", "uv"), ("poetry-basic", "poetry"), ("pipenv-basic", "pipenv"), ("pip-flask", "pip")])  # fmt: skip
def test_development_dependencies_installed_on_request(
    fixture: str, manager: str, tmp_path: Path, shared_download_cache: dict[str, str]
) -> None:
    # This network's TLS proxy is in the system store, which uv only reads when asked to.
    settings = dict(shared_download_cache) | {"UV_SYSTEM_CERTS": "1"}
    app = DepsApp(copy_app(fixture, tmp_path / "app"), tmp_path / "layers", settings)
    app.layers_dir.mkdir()
    if manager == "pip":
        app.write("requirements-test.txt", "-r requirements.txt\niniconfig==2.0.0\n")
    extra = "iniconfig" if manager == "pip" else "pytest"

    production = app.install().ok()
    assert extra not in distributions(production)

    development = app.install(**{DEV_SETTING: "true"})
    venv = development.ok()
    assert extra in distributions(venv) and "flask" in distributions(venv)
    assert "Including development dependencies (BP_PYTHON_INSTALL_DEV_DEPENDENCIES=true)" in development.log
    assert "BP_PYTHON_INSTALL_DEV_DEPENDENCIES changed from False to True" in development.log

    assert "Using cached dependencies" in app.install(**{DEV_SETTING: "true"}).log
    back = app.install()
    assert "BP_PYTHON_INSTALL_DEV_DEPENDENCIES changed from True to False" in back.log
    assert extra not in distributions(back.ok())
