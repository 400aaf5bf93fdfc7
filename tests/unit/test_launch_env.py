"""Launch-time parity: gunicorn's env defaults, and the SQLAlchemy URL exec.d program run for
real in every shell found here (fd 3 read back and decoded as the launcher does)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_web_concurrency import SHELLS, run_program

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.env import apply_env_dir
from python_buildpack.layers import gunicorn, sqlalchemy_urls
from python_buildpack.step_context import Context

REPO = Path(__file__).resolve().parents[2]
PROGRAM = REPO / "layers_templates" / "exec.d" / "sqlalchemy_urls"
URL = "postgres://user:secret@db.example:5432/app?sslmode=prefer"


# --- gunicorn defaults ----------------------------------------------------------------


def test_gunicorn_defaults_are_launch_defaults(tmp_path: Path) -> None:
    gunicorn.install(Context(tmp_path, tmp_path, REPO, {}))
    env_dir = tmp_path / "gunicorn" / "env.launch"
    assert (env_dir / "FORWARDED_ALLOW_IPS.default").read_bytes() == b"*"
    assert (env_dir / "GUNICORN_CMD_ARGS.default").read_bytes() == b"--access-logfile -"
    assert (env_dir / "XDG_RUNTIME_DIR.default").read_bytes() == b"/tmp"
    assert toml_io.load(tmp_path / "gunicorn.toml")["types"] == {"build": False, "launch": True, "cache": False}
    env: dict[str, str] = {}
    apply_env_dir(env, env_dir)
    assert env == {"FORWARDED_ALLOW_IPS": "*", "GUNICORN_CMD_ARGS": "--access-logfile -", "XDG_RUNTIME_DIR": "/tmp"}
    user = {"GUNICORN_CMD_ARGS": "--timeout 60", "FORWARDED_ALLOW_IPS": "10.0.0.1", "XDG_RUNTIME_DIR": "/run/user/1"}
    apply_env_dir(user, env_dir)
    assert user == {"GUNICORN_CMD_ARGS": "--timeout 60", "FORWARDED_ALLOW_IPS": "10.0.0.1",
                    "XDG_RUNTIME_DIR": "/run/user/1"}  # the user's win


# --- the SQLAlchemy layer: installed only for apps that mention it --------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [("requirements.txt", "SQLAlchemy==2.0.36\n"), ("Pipfile", '[packages]\nflask-sqlalchemy = "*"\n'),
     ("pyproject.toml", '[project]\ndependencies = ["sqlalchemy>=2"]\n')],
)  # fmt: skip
def test_program_installed_when_the_app_mentions_sqlalchemy(tmp_path: Path, name: str, content: str) -> None:
    app, layers = tmp_path / "app", tmp_path / "layers"
    app.mkdir()
    layers.mkdir()
    (app / name).write_text(content)
    assert sqlalchemy_urls.install(Context(app, layers, REPO, {})) == name
    program = layers / "sqlalchemy-urls" / "exec.d" / "sqlalchemy_urls"
    assert program.read_bytes() == PROGRAM.read_bytes()
    assert os.access(program, os.X_OK)
    assert toml_io.load(layers / "sqlalchemy-urls.toml")["types"]["launch"] is True

    (app / name).write_text("flask\n")  # no longer mentioned: the layer goes
    assert sqlalchemy_urls.install(Context(app, layers, REPO, {})) is None
    assert not (layers / "sqlalchemy-urls").exists() and not (layers / "sqlalchemy-urls.toml").exists()


def test_a_fifo_named_like_a_dependency_file_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "requirements.txt")
    assert sqlalchemy_urls.mentions_sqlalchemy(tmp_path) is None


# --- the program ----------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS, ids=" ".join)
def test_postgres_urls_get_an_alchemy_copy(shell: list[str]) -> None:
    run = run_program(
        {
            "SCALINGO_POSTGRESQL_URL": URL,
            "SCALINGO_POSTGRESQL_URL_REPLICA": "postgres://replica/app",
            "SCALINGO_POSTGRESQL_URL_OTHER": "postgresql://already/fine",
            "DATABASE_URL": "postgres://not/ours",
        },
        PROGRAM,
        shell,
    )
    assert run.returncode == 0
    assert run.values == {
        "SCALINGO_POSTGRESQL_ALCHEMY_URL": "postgresql://user:secret@db.example:5432/app?sslmode=prefer",
        "SCALINGO_POSTGRESQL_REPLICA_ALCHEMY_URL": "postgresql://replica/app",
    }
    assert run.stdout == run.stderr == ""  # silent, for every process


@pytest.mark.parametrize("shell", SHELLS, ids=" ".join)
def test_a_user_value_wins_and_nothing_is_a_quiet_no_op(shell: list[str]) -> None:
    mine = {"SCALINGO_POSTGRESQL_URL": URL, "SCALINGO_POSTGRESQL_ALCHEMY_URL": "postgresql+psycopg://mine"}
    assert run_program(mine, PROGRAM, shell).values == {}
    assert run_program({}, PROGRAM, shell).values == {}
    closed = run_program({"SCALINGO_POSTGRESQL_URL": URL}, PROGRAM, shell, fd3=False)
    assert (closed.returncode, closed.stderr) == (0, "")


@pytest.mark.parametrize("shell", SHELLS, ids=" ".join)
def test_values_that_are_not_urls_are_skipped(shell: list[str]) -> None:
    fake = "postgres://a\nexport SCALINGO_POSTGRESQL_URL_FAKE='postgres://b'"
    run = run_program(
        {"SCALINGO_POSTGRESQL_URL": fake, "SCALINGO_POSTGRESQL_URL_TAB": "postgres://a\tb"}, PROGRAM, shell
    )
    assert (run.returncode, run.values) == (0, {})


URL_CHARS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("éß€"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(rest=URL_CHARS)
def test_any_printable_url_round_trips_through_toml(rest: str) -> None:
    run = run_program({"SCALINGO_POSTGRESQL_URL": "postgres://" + rest}, PROGRAM)
    assert run.returncode == 0
    assert run.values == {"SCALINGO_POSTGRESQL_ALCHEMY_URL": "postgresql://" + rest}
