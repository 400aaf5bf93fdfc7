"""Django collectstatic and the default gunicorn process, with a real Django in a real venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.django_probe import wrapper_python
from support.serving import free_port

from python_buildpack.app.django import collectstatic, django_installed
from python_buildpack.app.procfile import launch_processes
from python_buildpack.errors import BuildError
from python_buildpack.step_context import Context

FIXTURE = Path(__file__).parents[1] / "fixtures" / "apps" / "django-gunicorn"
EXEC_D = Path(__file__).resolve().parents[2] / "layers_templates" / "exec.d" / "web_concurrency"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = Path(sys.executable)
    venv = tmp_path_factory.mktemp("django") / "venv"
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(FIXTURE / "requirements.txt")],
        check=True,
    )
    return venv


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "app"))


def build_env(venv: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "VIRTUAL_ENV": str(venv), **extra}


def edit_settings(app: Path, old: str, new: str) -> None:
    settings = app / "mysite" / "settings.py"
    text = settings.read_text()
    assert old in text
    settings.write_text(text.replace(old, new))




# --- with Django ----------------------------------------------------------------------------


def test_collects_static_files_into_the_app(venv: Path, app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert django_installed(Context(app, app / "layers", app, {}), build_env(venv), venv / "bin" / "python")
    assert collectstatic(Context(app, app / "layers", app, {}), build_env(venv), venv / "bin" / "python") is True
    collected = app / "staticfiles" / "css" / "site.css"
    assert collected.read_bytes() == (FIXTURE / "static" / "css" / "site.css").read_bytes()
    out = capsys.readouterr().out
    assert "Running python manage.py collectstatic --noinput" in out
    assert "1 static file copied" in out


@pytest.mark.e2e
def test_probe_finds_django(venv: Path, tmp_path: Path) -> None:
    ctx = Context(tmp_path, tmp_path / "layers", tmp_path, {})
    assert django_installed(ctx, build_env(venv), wrapper_python(tmp_path, venv / "bin" / "python")) is True


@pytest.mark.e2e
def test_django_without_manage_py(venv: Path, app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (app / "manage.py").unlink()
    assert collectstatic(Context(app, app / "layers", app, {}), build_env(venv), venv / "bin" / "python") is False
    assert capsys.readouterr().out == (
        "   - Django is installed but there is no manage.py at the root of the app: skipping collectstatic\n"
    )
    assert not (app / "staticfiles").exists()


@pytest.mark.e2e
@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_disabled_by_the_user(venv: Path, app: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = build_env(venv, DISABLE_COLLECTSTATIC=value)
    assert collectstatic(Context(app, app / "layers", app, {}), env, venv / "bin" / "python") is False
    assert not (app / "staticfiles").exists()
    assert f"Skipping collectstatic: DISABLE_COLLECTSTATIC={value} is set" in capsys.readouterr().out


@pytest.mark.e2e
@pytest.mark.parametrize("value", ["", "0", "false"])
def test_falsy_disable_values_do_not_disable(venv: Path, app: Path, value: str) -> None:
    env = build_env(venv, DISABLE_COLLECTSTATIC=value)
    assert collectstatic(Context(app, app / "layers", app, {}), env, venv / "bin" / "python") is True
    assert (app / "staticfiles" / "css" / "site.css").is_file()


@pytest.mark.e2e
def test_skipped_without_static_root(venv: Path, app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_settings(app, 'STATIC_ROOT = BASE_DIR / "staticfiles"', "")
    assert collectstatic(Context(app, app / "layers", app, {}), build_env(venv), venv / "bin" / "python") is False
    assert "Skipped: the STATIC_ROOT setting is not set" in capsys.readouterr().out


@pytest.mark.e2e
def test_skipped_without_staticfiles_app(venv: Path, app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_settings(app, 'INSTALLED_APPS = ["django.contrib.staticfiles"]', "INSTALLED_APPS = []")
    assert collectstatic(Context(app, app / "layers", app, {}), build_env(venv), venv / "bin" / "python") is False
    assert "Skipped: 'django.contrib.staticfiles' is not in INSTALLED_APPS" in capsys.readouterr().out


@pytest.mark.e2e
def test_failure_shows_djangos_error_and_a_hint(venv: Path, app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_settings(app, "DEBUG = False", 'DEBUG = False\nDATABASE_URL = os.environ["DATABASE_URL"]')
    with pytest.raises(BuildError) as raised:
        collectstatic(Context(app, app / "layers", app, {}), build_env(venv), venv / "bin" / "python")
    error = raised.value
    assert error.title == "collectstatic failed"
    assert "KeyError: 'DATABASE_URL'" in error.details
    assert "DISABLE_COLLECTSTATIC=1" in error.details
    # The output streamed into the log as it came; the error does not repeat it.
    streamed = capsys.readouterr().out
    assert "Traceback" in streamed and streamed.rstrip().endswith("KeyError: 'DATABASE_URL'")
    assert error.output == ""


# --- the default web process, started for real ---------------------------------------------


def exec_d_env(cgroup: Path) -> dict[str, str]:
    """WEB_CONCURRENCY and co. as the exec.d program reports them for this fake cgroup."""
    read_fd, write_fd = os.pipe()
    env = {"PATH": "/usr/bin:/bin", "WEB_CONCURRENCY_CGROUP_ROOT": str(cgroup)}
    env["WEB_CONCURRENCY_PROC_CGROUP"] = str(cgroup / "none")
    proc = subprocess.Popen([str(EXEC_D)], env=env, close_fds=False, preexec_fn=lambda: os.dup2(write_fd, 3))
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        data = reader.read().decode()
    assert proc.wait() == 0
    values = dict(line.split(" = ", 1) for line in data.splitlines())
    return {k: v.strip('"') for k, v in values.items()}


@pytest.fixture
def server(venv: Path, app: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, dict[str, str]]]:
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{1024 * MIB}\n")
    (web,) = launch_processes(app, (venv / "bin" / "gunicorn").is_file())
    port = free_port()
    env = {**build_env(venv), **exec_d_env(cgroup), "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        web.command, cwd=app, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield proc, port, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.e2e
def test_default_web_process_serves_with_four_workers_for_1gib(
    server: tuple[subprocess.Popen[str], int, dict[str, str]],
) -> None:
    proc, port, env = server
    assert env["WEB_CONCURRENCY"] == "4"
    assert proc.stderr is not None
    booted = 0
    deadline = time.monotonic() + 60  # a wait bound, not a timing assertion
    log: list[str] = []
    while booted < 4 and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        log.append(line)
        booted += "Booting worker with pid" in line
    assert booted == 4, "".join(log)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as response:
        assert response.status == 200
        assert response.read() == b"ok\n"
