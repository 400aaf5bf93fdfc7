"""Behaviour apps rely on from the classic buildpack, through whole builds (issue 11):
the sticky Python version, the end-of-life warning, refused build environments, committed
virtual environments and misspelled version files. The refusals happen before any download,
and leave the cache of the last good build usable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import tomli_w
from support.builds import PYTHON_MAJOR, AppBuild

from python_buildpack.cnb import toml_io
from python_buildpack.stacks.table import STACK_TO_UBUNTU

pytestmark = pytest.mark.e2e

MakeApp = Callable[..., AppBuild]


def catalogue_with_new_default(app: AppBuild, path: Path, end_of_life: date) -> str:
    """The test mirror's catalogue plus a newer default major that has no archive (it must not
    be downloaded), and an end-of-life date for the test runtime's major."""
    data = toml_io.load(Path(app.platform_env["BP_PYTHON_RUNTIME_CATALOG"]))
    data["default"] = "3.99"
    for stack in STACK_TO_UBUNTU:
        data["stacks"][stack]["3.99"] = "3.99.0"
    data["end_of_life"] = {PYTHON_MAJOR: end_of_life}
    path.write_text(tomli_w.dumps(data))
    return str(path)


def test_no_version_file_keeps_the_major_of_the_previous_build(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(files={"requirements.txt": "", ".python-version": f"{PYTHON_MAJOR}\n"})
    first = app.build()
    assert first.ok, first.output
    assert "No Python version file" not in first.output

    (app.source / ".python-version").unlink()
    eol = date.today() + timedelta(days=100)
    catalog = catalogue_with_new_default(app, tmp_path / "catalog.toml", eol)
    second = app.build(BP_PYTHON_RUNTIME_CATALOG=catalog)
    assert second.ok, second.output
    assert f"({PYTHON_MAJOR} from the previous build; add a .python-version file to choose)" in second.output
    assert "Warning: No Python version file" in second.output
    assert f"$ echo {PYTHON_MAJOR} > .python-version" in second.output
    assert "Using cached Python" in second.output  # no jump to the new default 3.99
    assert f"Warning: Python {PYTHON_MAJOR} is near its end of life" in second.output
    assert f"reaches its end of life on {eol.isoformat()}" in second.output
    assert "request 3.99 in .python-version" in second.output


def test_refusals_fail_early_and_keep_the_cache(make_app: MakeApp) -> None:
    app = make_app(files={"requirements.txt": "", ".python-version": f"{PYTHON_MAJOR}\n"})
    assert app.build().ok

    refused = app.build(PIP_TARGET="/tmp/elsewhere", UV_PROJECT_ENVIRONMENT="/tmp/uv")
    assert not refused.ok
    assert "Error: PIP_TARGET, UV_PROJECT_ENVIRONMENT must not be set" in refused.output
    assert "Traceback" not in refused.output

    (app.source / "venv").mkdir()
    (app.source / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    committed = app.build()
    assert not committed.ok
    assert "Error: The app contains a virtual environment: venv/" in committed.output
    assert "Installing Python" not in committed.output
    (app.source / "venv" / "pyvenv.cfg").unlink()

    (app.source / ".python-version").rename(app.source / ".python_version")
    misspelled = app.build()
    assert not misspelled.ok
    assert "Error: Misspelled Python version file: '.python_version'" in misspelled.output
    (app.source / ".python_version").rename(app.source / ".python-version")

    again = app.build(PYTHONPATH="/somewhere", VIRTUAL_ENV="/old/venv")
    assert again.ok, again.output
    assert "Removed PYTHONPATH from the build environment" in again.output
    assert "Warning: Ignoring VIRTUAL_ENV" in again.output
    assert "Using cached Python" in again.output and "Using cached dependencies" in again.output


def test_failed_install_explains_a_known_cause(make_app: MakeApp) -> None:
    # A local package whose build fails as pysqlite3's does on a stack without SQLite headers.
    setup = 'import sys\nprint("src/module.h:4:10: fatal error: sqlite3.h: No such file or directory")\nsys.exit(1)\n'
    app = make_app(
        files={"requirements.txt": "./sqlitepkg\n", "sqlitepkg/setup.py": setup, ".python-version": PYTHON_MAJOR}
    )
    result = app.build()
    assert not result.ok
    assert "Error: A package needs the SQLite headers, which are not on the stack" in result.output
    # the installer's own output comes before the explanation
    assert result.output.index("sqlite3.h: No such file") < result.output.index("Error: A package needs")
    assert "Traceback" not in result.output


def test_launch_env_gunicorn_defaults_and_sqlalchemy_urls(make_app: MakeApp) -> None:
    from python_buildpack_dev.emulated.launcher import run_in_image

    app = make_app(files={"requirements.txt": "# sqlalchemy comes with the app's own package\n"})
    result = app.build()
    assert result.ok, result.output
    assert "SQLAlchemy URLs: requirements.txt mentions sqlalchemy" in result.output
    platform = {"SCALINGO_POSTGRESQL_URL": "postgres://u:p@db:5432/app"}

    def launch_env(runtime_env: dict[str, str]) -> dict[str, str]:
        proc = run_in_image(app.workspace, ["sh", "-c", "env"], runtime_env)
        return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)

    env = launch_env(platform)
    assert env["SCALINGO_POSTGRESQL_ALCHEMY_URL"] == "postgresql://u:p@db:5432/app"
    assert env["FORWARDED_ALLOW_IPS"] == "*"
    assert env["GUNICORN_CMD_ARGS"] == "--access-logfile -"
    assert launch_env({"GUNICORN_CMD_ARGS": "--workers 3"})["GUNICORN_CMD_ARGS"] == "--workers 3"

    (app.source / "requirements.txt").write_text("")
    assert app.build().ok
    assert not (app.layers / "sqlalchemy-urls").exists()
    assert "SCALINGO_POSTGRESQL_ALCHEMY_URL" not in launch_env(platform)


def test_nltk_corpora_from_a_loopback_server(make_app: MakeApp, tmp_path: Path) -> None:
    from support.nltk_server import serve_nltk_data

    from python_buildpack_dev.emulated.launcher import run_in_image

    # nltk 3.10+ refuses loopback servers (its SSRF guard); 3.9.1 is a release apps still pin.
    app = make_app(
        files={
            "requirements.txt": "nltk==3.9.1\n",
            "nltk.txt": "tinycorpus\ntinytok\n",
            ".python-version": PYTHON_MAJOR,
        }
    )
    packages = {"tinycorpus": "corpora", "tinytok": "tokenizers"}
    with serve_nltk_data(tmp_path / "nltk-server", packages) as server:
        result = app.build(BP_PYTHON_NLTK_INDEX_URL=server.index_url)
        assert result.ok, result.output
        assert "Downloading NLTK corpora: tinycorpus, tinytok" in result.output
        assert "/packages/corpora/tinycorpus.zip" in server.requests

        code = "import nltk; print(nltk.data.find('corpora/tinycorpus/README')); print(nltk.data.find('tokenizers/tinytok'))"
        proc = run_in_image(app.workspace, ["python", "-c", code])
        assert proc.returncode == 0, proc.stderr
        assert all(line.startswith(str(app.layers / "nltk" / "data")) for line in proc.stdout.split())

        fetched = len(server.requests)
        warm = app.build(BP_PYTHON_NLTK_INDEX_URL=server.index_url)
        assert warm.ok, warm.output
        assert "Using cached NLTK corpora (tinycorpus, tinytok; nltk.txt unchanged)" in warm.output
        assert len(server.requests) == fetched  # nothing downloaded again

        (app.source / "nltk.txt").write_text("tinycorpus\nnot-in-the-index\n")
        failed = app.build(BP_PYTHON_NLTK_INDEX_URL=server.index_url)
        assert not failed.ok
        assert "Error: Could not download the NLTK corpora" in failed.output
        assert "Traceback" not in failed.output
        (app.source / "nltk.txt").write_text("tinycorpus\ntinytok\n")
        again = app.build(BP_PYTHON_NLTK_INDEX_URL=server.index_url)
        assert again.ok and "Using cached NLTK corpora" in again.output  # the failed build changed no cache
