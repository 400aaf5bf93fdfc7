"""Procfile parsing and the Django default `web` process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from python_buildpack.app.procfile import (
    default_processes,
    django_project,
    launch_processes,
    parse_procfile,
    read_procfile,
)
from python_buildpack.cnb.models import LaunchToml, Process
from python_buildpack.errors import BuildError

DJANGO_APP = Path(__file__).parents[1] / "fixtures" / "apps" / "django-gunicorn"


def by_type(processes: list[Process]) -> dict[str, Process]:
    return {p.type: p for p in processes}


def test_entries_become_shell_commands_in_file_order() -> None:
    processes = parse_procfile(
        b"web: gunicorn app.wsgi --bind 0.0.0.0:$PORT\n"
        b"worker:   celery -A app worker --loglevel=info\n"
        b"release: python manage.py migrate && echo done\n"
    )
    assert [p.type for p in processes] == ["web", "worker", "release"]
    assert processes[0].command == ["bash", "-c", "gunicorn app.wsgi --bind 0.0.0.0:$PORT"]
    assert processes[1].command == ["bash", "-c", "celery -A app worker --loglevel=info"]
    assert processes[2].command[2] == "python manage.py migrate && echo done"
    assert [p.default for p in processes] == [True, False, False]
    LaunchToml(processes=processes)  # valid launch.toml content


def test_web_is_default_wherever_it_is() -> None:
    processes = by_type(parse_procfile(b"worker: python w.py\nweb: python s.py\n"))
    assert processes["web"].default and not processes["worker"].default


def test_a_single_process_is_the_default() -> None:
    (process,) = parse_procfile(b"worker: python w.py\n")
    assert process.default


def test_several_processes_without_web_have_no_default() -> None:
    assert not any(p.default for p in parse_procfile(b"worker: a\nclock: b\n"))


def test_comments_blank_lines_crlf_bom_and_spacing() -> None:
    data = "\ufeff# processes\r\n\r\n  web :  python -m http.server $PORT  \r\n\tclock:python c.py\r\n"
    processes = by_type(parse_procfile(data.encode()))
    assert processes["web"].command[2] == "python -m http.server $PORT"
    assert processes["clock"].command[2] == "python c.py"


def test_colons_in_command_and_dotted_types() -> None:
    processes = by_type(parse_procfile(b"web.v2: gunicorn app:create_app() -b :$PORT\n"))
    assert processes["web.v2"].command[2] == "gunicorn app:create_app() -b :$PORT"


def test_the_command_really_expands_port(tmp_path: Path) -> None:
    (web,) = parse_procfile(b"web: echo listening on $PORT\n")
    result = subprocess.run(web.command, env={"PORT": "5123", "PATH": "/usr/bin:/bin"}, capture_output=True)
    assert result.stdout == b"listening on 5123\n"


def test_empty_procfile_has_no_process() -> None:
    assert parse_procfile(b"# nothing yet\n\n") == []


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"web: ok\ngunicorn app.wsgi\n", 2, "no `type: command` form"),
        (b"web: a\nweb: b\n", 2, "defined twice"),
        (b"# c\n\nweb:   \n", 3, "has no command"),
        (b": gunicorn\n", 1, "no process type"),
        (b"web server: gunicorn\n", 1, "no `type: command` form"),
        (b"we$b: gunicorn\n", 1, "may only contain"),
        (b"w\xc3\xa9b: gunicorn\n", 1, "may only contain"),
    ],
)
def test_malformed_lines_name_the_line(data: bytes, line: int, words: str) -> None:
    with pytest.raises(BuildError) as raised:
        parse_procfile(data)
    assert raised.value.title == f"Malformed Procfile at line {line}"
    assert words in raised.value.details
    assert "web: gunicorn myproject.wsgi --bind 0.0.0.0:$PORT" in raised.value.details


def test_non_utf8_names_the_line() -> None:
    with pytest.raises(BuildError) as raised:
        parse_procfile(b"web: ok\nworker: caf\xe9\n")
    assert raised.value.title == "Procfile is not valid UTF-8"
    assert "Line 2" in raised.value.details


def test_read_procfile_absent_and_present(tmp_path: Path) -> None:
    assert read_procfile(tmp_path) is None
    (tmp_path / "Procfile").write_text("web: python app.py\n")
    processes = read_procfile(tmp_path)
    assert processes is not None and processes[0].type == "web"


def test_procfile_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "Procfile").mkdir()
    with pytest.raises(BuildError, match="Cannot read the Procfile"):
        read_procfile(tmp_path)


def test_dangling_procfile_symlink(tmp_path: Path) -> None:
    (tmp_path / "Procfile").symlink_to(tmp_path / "missing")
    with pytest.raises(BuildError, match="Cannot read the Procfile"):
        read_procfile(tmp_path)


# --- Django default -----------------------------------------------------------------------


def make_django(app: Path, settings: str = "shop.settings", package: str = "shop") -> Path:
    app.mkdir(exist_ok=True)
    manage = f'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")\n'
    (app / "manage.py").write_text(manage)
    (app / package).mkdir(exist_ok=True)
    (app / package / "wsgi.py").write_text("application = None\n")
    return app


def test_fixture_django_app_gets_a_gunicorn_web_process(tmp_path: Path) -> None:
    processes, message = default_processes(DJANGO_APP, True)
    assert [(p.type, p.command, p.default) for p in processes] == [
        ("web", ["bash", "-c", "gunicorn mysite.wsgi --bind 0.0.0.0:$PORT"], True)
    ]
    assert "gunicorn mysite.wsgi --bind 0.0.0.0:$PORT" in message


def test_project_from_a_nested_settings_module(tmp_path: Path) -> None:
    app = make_django(tmp_path / "app", settings="config.settings.production", package="config")
    (app / "other").mkdir()
    (app / "other" / "wsgi.py").write_text("")
    assert django_project(app) == "config"


def test_project_found_by_its_wsgi_file_when_manage_py_is_unusual(tmp_path: Path) -> None:
    app = make_django(tmp_path / "app", settings="")
    (app / "manage.py").write_text("from somewhere import run\nrun()\n")
    assert django_project(app) == "shop"


def test_two_wsgi_candidates_are_ambiguous(tmp_path: Path) -> None:
    app = make_django(tmp_path / "app")
    (app / "manage.py").write_text("")
    (app / "second").mkdir()
    (app / "second" / "wsgi.py").write_text("")
    processes, message = default_processes(app, True)
    assert processes == [] and "Add a Procfile" in message


def test_django_without_gunicorn(tmp_path: Path) -> None:
    app = make_django(tmp_path / "app")
    processes, message = default_processes(app, False)
    assert processes == [] and "gunicorn is not installed" in message


def test_not_django(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    processes, message = default_processes(tmp_path, True)
    assert processes == [] and "No Procfile found" in message


def test_procfile_wins_over_the_django_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_django(tmp_path / "app")
    (app / "Procfile").write_text("web: uvicorn shop.asgi:app --port $PORT\nworker: celery -A shop worker\n")
    processes = launch_processes(app, True)
    assert processes[0].command[2].startswith("uvicorn")
    assert "Processes from Procfile: web (default), worker" in capsys.readouterr().out


def test_launch_processes_logs_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_django(tmp_path / "app")
    processes = launch_processes(app, True)
    assert processes[0].command[2] == "gunicorn shop.wsgi --bind 0.0.0.0:$PORT"
    assert "using the Django default" in capsys.readouterr().out


def test_launch_processes_warns_on_empty_procfile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Procfile").write_text("# todo\n")
    assert launch_processes(tmp_path, False) == []
    assert "The Procfile defines no process" in capsys.readouterr().err
