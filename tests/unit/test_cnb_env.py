"""Env files: what the buildpack writes and how a lifecycle applies them (spec suffix rules)."""

from __future__ import annotations

import os
from pathlib import Path

from python_buildpack.cnb.env import LayerEnv, apply_env_dir


def test_values_are_written_byte_for_byte(tmp_path: Path) -> None:
    env = LayerEnv(tmp_path)
    env.override("A", "1")
    env.default("B", "two words", scope="launch")
    env.prepend_path("PATH", "/layer/bin", scope="build")
    env.override("ONLY_WEB", "yes", scope="launch", process="web")
    assert (tmp_path / "env" / "A.override").read_bytes() == b"1"
    assert (tmp_path / "env.launch" / "B.default").read_bytes() == b"two words"
    assert (tmp_path / "env.build" / "PATH.prepend").read_bytes() == b"/layer/bin"
    # without a delim file the lifecycle would join with nothing
    assert (tmp_path / "env.build" / "PATH.delim").read_bytes() == os.pathsep.encode()
    assert (tmp_path / "env.launch" / "web" / "ONLY_WEB.override").read_text() == "yes"


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content)
    return directory


def test_suffix_rules(tmp_path: Path) -> None:
    d = write(
        tmp_path / "env",
        {
            "OVER.override": "new",
            "PLAIN": "plain",
            "DEF_SET.default": "ignored",
            "DEF_UNSET.default": "used",
            "P.prepend": "/a",
            "P.delim": ":",
            "Q.append": "/z",
            "Q.delim": ":",
            "NODELIM.append": "X",
            "WEIRD.suffix": "ignored",
        },
    )
    env = {"OVER": "old", "PLAIN": "old", "DEF_SET": "user", "P": "/b", "Q": "/y", "NODELIM": "W"}
    apply_env_dir(env, d)
    assert env["OVER"] == "new"
    assert env["PLAIN"] == "plain"
    assert env["DEF_SET"] == "user"
    assert env["DEF_UNSET"] == "used"
    assert env["P"] == "/a:/b"
    assert env["Q"] == "/y:/z"
    assert env["NODELIM"] == "WX"  # the spec's gotcha: joined with nothing
    assert "WEIRD" not in env


def test_prepend_to_unset_variable_has_no_leading_delimiter(tmp_path: Path) -> None:
    d = write(tmp_path / "env", {"P.prepend": "/a", "P.delim": ":"})
    env: dict[str, str] = {}
    apply_env_dir(env, d)
    assert env["P"] == "/a"


def test_trailing_newline_is_part_of_the_value(tmp_path: Path) -> None:
    d = write(tmp_path / "env", {"V.override": "x\n"})
    env: dict[str, str] = {}
    apply_env_dir(env, d)
    assert env["V"] == "x\n"


def test_missing_directory_is_a_no_op(tmp_path: Path) -> None:
    env = {"A": "1"}
    apply_env_dir(env, tmp_path / "absent")
    assert env == {"A": "1"}
