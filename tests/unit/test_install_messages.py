"""Which failure an installer's output means, for outputs the real-tool tests cannot provoke
on a loopback-only machine (ssh, timeouts). test_install_errors.py runs the real tools."""

from __future__ import annotations

import pytest

from python_buildpack.network_errors import unreachable_git_host
from python_buildpack.package_managers.pip import Pip
from python_buildpack.package_managers.poetry import Poetry
from python_buildpack.process import Completed

PIP_CLONE = "  Running command git clone --filter=blob:none --quiet {url} /tmp/pip-req-build-x"


@pytest.mark.parametrize(
    ("lines", "host"),
    [
        (
            [
                PIP_CLONE.format(url="'ssh://****@git.example.invalid/acme/app.git'"),
                "  ssh: Could not resolve hostname git.example.invalid: Name or service not known",
                "  fatal: Could not read from remote repository.",
            ],
            "git.example.invalid",
        ),
        (
            [
                PIP_CLONE.format(url="https://git.example.com/acme/app.git"),
                "  fatal: unable to access 'https://git.example.com/acme/app.git/': Operation timed out after "
                "300001 milliseconds with 0 out of 0 bytes received",
            ],
            "git.example.com",
        ),
        (
            [
                PIP_CLONE.format(url="'ssh://****@git.example.com/acme/app.git'"),
                "  ssh: connect to host git.example.com port 22: Connection timed out",
            ],
            "git.example.com",
        ),
        (
            [
                PIP_CLONE.format(url="https://github.com/acme/missing.git"),
                "  remote: Repository not found.",
                "  fatal: repository 'https://github.com/acme/missing.git/' not found",
            ],
            None,  # reached, but no such repository: not a network problem
        ),
        (["ERROR: Could not find a version that satisfies the requirement flask==99"], None),
    ],
)
def test_unreachable_git_host(lines: list[str], host: str | None) -> None:
    assert unreachable_git_host(Completed(1, lines)) == host


def never(wanted: str) -> str:
    raise AssertionError("not a Python version problem")


def test_poetry_index_unreachable() -> None:
    lines = ["  - Installing flask (3.1.3)", "", "    | All attempts to connect to pypi.org failed.", "    |"]
    title, _ = Poetry().explain(Completed(1, lines), "poetry.lock, pyproject.toml", "3.13.11", never)
    assert title == "poetry could not reach the package index"


def test_pip_index_unreachable_is_not_a_git_problem() -> None:
    lines = [
        "WARNING: Retrying (Retry(total=0, ...)) after connection broken by 'NewConnectionError(...: "
        "Failed to establish a new connection: [Errno 111] Connection refused')': /simple/flask/",
    ]
    title, _ = Pip().explain(Completed(1, lines), "requirements.txt", "3.13.11", never)
    assert title == "pip could not reach the package index"
