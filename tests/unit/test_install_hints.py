"""Known causes of failed installs (the table; tests/e2e/test_parity.py has a real failed install)."""

from __future__ import annotations

import pytest

from python_buildpack.package_managers.hints import HINTS, hint_for

# Lines as the installers print them (from real failed builds of these packages).
OUTPUTS = {
    "GDAL": "      Could not find gdal-config. Make sure you have installed the GDAL native library",
    "SQLite": "      src/module.h:4:10: fatal error: sqlite3.h: No such file or directory",
    "pg_config": "      Error: pg_config executable not found.",
    "mysql_config": "      /bin/sh: 1: mysql_config: not found",
    "metadata": "  Please use pip<24.1 if you need to use this version.",
    "disk": "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device",
}


@pytest.mark.parametrize(("word", "line"), OUTPUTS.items())
def test_each_known_cause_is_recognised(word: str, line: str) -> None:
    hint = hint_for(f"Collecting something\n{line}\nerror: subprocess-exited-with-error\n")
    assert hint is not None and word in hint.title + hint.explanation


def test_every_hint_is_reached_and_names_a_fix() -> None:
    found = {hint_for(line) for line in OUTPUTS.values()}
    assert found == set(HINTS)
    for hint in HINTS:
        assert "see the output above" in hint.explanation


def test_unrelated_failures_have_no_hint() -> None:
    assert hint_for("ERROR: No matching distribution found for flask==99\n") is None
    assert hint_for("Successfully ran gdal-config --version\n") is None
