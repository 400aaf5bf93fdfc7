"""In-place venv updates with real uv: a requirements.txt app installed with uv
(`BP_PYTHON_INSTALLER=uv`) and a uv.lock app (uv_update.py), as test_dependencies.py does for pip.

Each update bumps one pin, drops one package and adds one; the venv is updated in place (a
file of the previous venv survives), exactly, and going back gives the first venv byte for byte.
The previous venv's hard-linked copy, the rollback, is kept and compared with the venv as it
was: uv must never have written into a file it shares with the venv.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.deps import DepsApp, copy_app, distributions, run_script, site_packages, snapshot, venv_python

from python_buildpack.files import trees
from python_buildpack.layers.venv import PREVIOUS
from python_buildpack.package_managers.pip_update import installed

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parents[1] / "fixtures" / "apps"
REQUIREMENTS = "flask==3.1.3\ngunicorn==23.0.0\nsix==1.17.0\nclick==8.1.8\n"
# gunicorn moved back, six dropped, attrs added, click loose (`uv pip install` alone keeps 8.1.8).
CHANGED = "flask==3.1.3\ngunicorn==22.0.0\nattrs==25.3.0\nclick>=8.1\n"


@pytest.fixture
def rollbacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """The previous venv's copies, kept instead of deleted once an update checked out."""
    kept: list[Path] = []
    remove_later = trees.remove_later

    def keep(path: Path) -> None:
        if path.name != PREVIOUS:
            remove_later(path)
            return
        kept.append(path.rename(tmp_path / f"rollback-{len(kept)}"))

    monkeypatch.setattr(trees, "remove_later", keep)
    return kept


def update(app: DepsApp, change: Callable[[], None], rollbacks: list[Path]) -> tuple[Path, str]:
    """Changes the app, installs, and checks the update was in place with a sound rollback."""
    venv = app.layers_dir / "venv"
    (venv / "marker").write_text("previous venv")
    before = snapshot(venv)
    change()
    outcome = app.install()
    assert outcome.ok() == venv
    assert "Updating cached dependencies since" in outcome.log
    assert "rebuilding" not in outcome.log.lower() and "Discarding" not in outcome.log, outcome.log
    assert (venv / "marker").is_file(), "rebuilt from scratch"
    assert rollbacks and snapshot(rollbacks[-1]) == before, "uv wrote into a file the rollback shares"
    return venv, outcome.log


def test_uv_installer_updates_a_requirements_app_in_place(
    tmp_path: Path, shared_download_cache: dict[str, str], rollbacks: list[Path]
) -> None:
    settings = dict(shared_download_cache, BP_PYTHON_INSTALLER="uv", UV_SYSTEM_CERTS="1")
    app = DepsApp(copy_app("pip-flask", tmp_path / "app"), tmp_path / "layers", settings)
    app.layers_dir.mkdir()
    app.write("requirements.txt", REQUIREMENTS)
    first = snapshot(app.install().ok())

    venv, log = update(app, lambda: app.write("requirements.txt", CHANGED), rollbacks)
    assert "- Removing six (no longer required)" in log
    versions = installed(venv)
    assert versions["gunicorn"] == "22.0.0" and versions["attrs"] == "25.3.0" and "six" not in versions
    assert not list(site_packages(venv).glob("__pycache__/six.*"))  # uv's uninstall leaves it
    assert versions["click"] != "8.1.8"  # moved to what a fresh venv gets
    assert "pip" not in versions  # the venv finds the runtime's pip (pip_seed.py)
    assert distributions(venv) == {
        "attrs", "blinker", "click", "flask", "gunicorn", "itsdangerous", "jinja2", "markupsafe", "packaging",
        "werkzeug",
    }  # fmt: skip
    assert run_script(venv, "pip", "--version").stdout.startswith("pip ")
    assert venv_python(venv, "import attrs, flask, gunicorn").returncode == 0
    assert "22.0.0" in run_script(venv, "gunicorn", "--version").stdout

    venv, log = update(app, lambda: app.write("requirements.txt", REQUIREMENTS), rollbacks)
    assert "- Removing attrs (no longer required)" in log
    (venv / "marker").unlink()
    assert snapshot(venv) == first  # byte for byte: an update gives what a fresh install gives

    # Failures leave the venv as it was: a requirement that cannot be resolved (uv's install
    # says why), a release whose hash is not the requirement's (checked although pinned by the update).
    toml_before = (app.layers_dir / "venv.toml").read_bytes()
    wrong_hash = "--hash=sha256:" + "0" * 64
    for requirements, said in [
        (REQUIREMENTS + "surely-not-a-real-package-name-4242==1.0\n", "surely-not-a-real-package-name-4242"),
        (REQUIREMENTS.replace("gunicorn==23.0.0", f"gunicorn==22.0.0 {wrong_hash}"), "Hash mismatch for `gunicorn"),
    ]:
        app.write("requirements.txt", requirements)
        failed = app.install()
        assert failed.error is not None and said in failed.log and "Rebuilding" not in failed.log, failed.log
        assert snapshot(venv) == first and (app.layers_dir / "venv.toml").read_bytes() == toml_before

    # A frozen file (every distribution pinned) is its own target set: no `uv pip compile`.
    app.write("requirements.txt", REQUIREMENTS)
    frozen = "".join(f"{name}=={version}\n" for name, version in sorted(installed(venv).items()) if name != "pip")
    venv, log = update(app, lambda: app.write("requirements.txt", frozen.replace("six==1.17.0", "six==1.16.0")),
                       rollbacks)  # fmt: skip
    assert "The requirements pin every distribution: they are the target set, with no resolution" in log
    assert installed(venv) == {**installed(rollbacks[-1]), "six": "1.16.0"}


def test_uv_lock_app_updates_in_place(
    tmp_path: Path, shared_download_cache: dict[str, str], rollbacks: list[Path]
) -> None:
    app = DepsApp(copy_app("uv-update", tmp_path / "app"), tmp_path / "layers", dict(shared_download_cache))
    app.layers_dir.mkdir()
    first = snapshot(app.install().ok())

    def lock(fixture: str) -> Callable[[], None]:
        return lambda: [shutil.copy(FIXTURES / fixture / name, app.app_dir / name) for name in ("pyproject.toml", "uv.lock")]

    venv, log = update(app, lock("uv-update-next"), rollbacks)
    assert "- Updating cached dependencies since pyproject.toml changed, uv.lock changed" in log
    assert "- Removing six (no longer required)" in log
    versions = installed(venv)
    assert versions["gunicorn"] == "22.0.0" and versions["attrs"] == "25.3.0"
    assert not list(site_packages(venv).glob("__pycache__/six.*"))
    assert distributions(venv) == {
        "attrs", "blinker", "click", "flask", "gunicorn", "itsdangerous", "jinja2", "markupsafe", "packaging",
        "werkzeug",
    }  # fmt: skip  (colorama is for Windows only)
    assert venv_python(venv, "import attrs, flask, gunicorn").returncode == 0

    venv, log = update(app, lock("uv-update"), rollbacks)
    assert "- Removing attrs (no longer required)" in log
    (venv / "marker").unlink()
    assert snapshot(venv) == first  # the byte-code compiled by the update is uv's, byte for byte
