"""Advice about the Python version names the file that decided it and never overwrites a pin
(issue 10): whole error boxes, as the build log shows them."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.boxes import box, warning_box

from python_buildpack.errors import BuildError
from python_buildpack.runtime.catalog import load_catalog
from python_buildpack.runtime.selection import change_advice, resolve
from python_buildpack.runtime.version_files import RequestedVersion, read_requested_version


def refusal(tmp_path: Path, files: dict[str, str]) -> str:
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(BuildError) as excinfo:
        requested, _ = read_requested_version(tmp_path, "3.13", pipenv=False)
        resolve(requested, load_catalog({}), "scalingo-22")
    return box(excinfo.value)


def test_empty_runtime_txt_next_to_a_python_version_keeps_that_pin(tmp_path: Path) -> None:
    assert refusal(tmp_path, {"runtime.txt": "\n", ".python-version": "3.11\n"}) == (
        "! Error: runtime.txt is empty\n"
        "!\n"
        "! runtime.txt holds no version (only blank lines or comments). runtime.txt is deprecated\n"
        "! and takes precedence over .python-version: delete it, and .python-version (3.11) will\n"
        "! then be used:\n"
        "!\n"
        "!     $ git rm runtime.txt"
    )


def test_runtime_txt_refused_version_next_to_a_python_version(tmp_path: Path) -> None:
    assert refusal(tmp_path, {"runtime.txt": "python-3.9\n", ".python-version": "# prod\n3.12.4\n"}) == (
        "! Error: Python 3.9 is end-of-life\n"
        "!\n"
        "! runtime.txt requests Python 'python-3.9'. Python 3.9 is end-of-life and no longer\n"
        "! supported: it gets no security fixes. Available on scalingo-22: 3.11 (up to 3.11.14),\n"
        "! 3.12 (up to 3.12.12), 3.13 (up to 3.13.11), 3.14 (up to 3.14.2). runtime.txt is\n"
        "! deprecated and takes precedence over .python-version: delete it, and .python-version\n"
        "! (3.12.4) will then be used:\n"
        "!\n"
        "!     $ git rm runtime.txt"
    )


def test_broken_python_version_is_no_pin_to_keep(tmp_path: Path) -> None:
    assert refusal(tmp_path, {"runtime.txt": "", ".python-version": "python-3.11\n"}) == (
        "! Error: runtime.txt is empty\n"
        "!\n"
        "! runtime.txt holds no version (only blank lines or comments). runtime.txt is deprecated:\n"
        "! delete it and create a .python-version file holding the version instead, for example:\n"
        "!\n"
        "!     $ git rm runtime.txt && echo 3.13 > .python-version"
    )


def test_slash_comment_in_python_version(tmp_path: Path) -> None:
    assert refusal(tmp_path, {".python-version": "// pinned for production\n3.12\n"}) == (
        "! Error: .python-version has a comment starting with //\n"
        "!\n"
        "! Line 1 of .python-version ('// pinned for production') holds a // comment, but comments\n"
        "! in .python-version start with #: the words after // would be read as Python versions.\n"
        "! Write it as:\n"
        "!\n"
        "!     # pinned for production\n"
        "!     3.12"
    )


def test_slash_comment_in_runtime_txt(tmp_path: Path) -> None:
    assert refusal(tmp_path, {"runtime.txt": "python-3.12\n  // same as CI\n"}) == (
        "! Error: runtime.txt has a comment starting with //\n"
        "!\n"
        "! Line 2 of runtime.txt ('// same as CI') holds a // comment, but comments in runtime.txt\n"
        "! start with #: the words after // would be read as Python versions. Write it as:\n"
        "!\n"
        "!     python-3.12\n"
        "!     # same as CI"
    )


def test_slash_comment_after_the_version(tmp_path: Path) -> None:
    assert refusal(tmp_path, {".python-version": "3.12 //prod\n"}) == (
        "! Error: .python-version has a comment starting with //\n"
        "!\n"
        "! Line 1 of .python-version ('3.12 //prod') holds a // comment, but comments in\n"
        "! .python-version start with #: the words after // would be read as Python versions. Write\n"
        "! it as:\n"
        "!\n"
        "!     3.12 # prod"
    )


def test_hash_comments_are_still_fine(tmp_path: Path) -> None:
    (tmp_path / ".python-version").write_text("# see https://example.com//docs\n3.12 # prod\n", encoding="utf-8")
    requested, _ = read_requested_version(tmp_path, "3.13", pipenv=False)
    assert requested.version == "3.12"


@pytest.mark.parametrize(
    ("requested", "advice"),
    [
        (
            RequestedVersion("3.11", None, "runtime.txt", "python-3.11", overridden="3.12"),
            "This build uses Python 3.11.7 because runtime.txt says 'python-3.11', and runtime.txt takes "
            "precedence over .python-version (3.12). Delete runtime.txt (`git rm runtime.txt`): "
            ".python-version will then be used.",
        ),
        (
            RequestedVersion("3.11", None, "runtime.txt", "python-3.11"),
            "This build uses Python 3.11.7 because runtime.txt says 'python-3.11'. runtime.txt is deprecated: "
            "delete it (`git rm runtime.txt`) and create a .python-version file holding a version that "
            "matches >=3.12.",
        ),
        (
            RequestedVersion("3.11", None, ".python-version", "3.11"),
            "This build uses Python 3.11.7 because .python-version says '3.11': change it to a version that "
            "matches >=3.12.",
        ),
        (
            RequestedVersion("3.11", "3.11.7", "Pipfile.lock", "3.11.7", key="python_full_version"),
            "This build uses Python 3.11.7 because Pipfile.lock says python_full_version = '3.11.7'. Add a "
            ".python-version file holding a version that matches >=3.12, which takes precedence over "
            "Pipfile.lock, or set python_version in the [requires] section of Pipfile and run `pipenv lock`.",
        ),
        (
            RequestedVersion("3.11", None, "default", "3.11"),
            "The app has no Python version file, so this build uses Python 3.11.7, the buildpack's default. "
            "Add a .python-version file holding a version that matches >=3.12.",
        ),
    ],
)
def test_change_advice_names_the_deciding_source(requested: RequestedVersion, advice: str) -> None:
    assert change_advice(requested, "3.11.7", "that matches >=3.12") == advice


def warning_for(tmp_path: Path, files: dict[str, str]) -> str:
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    _, [warning] = read_requested_version(tmp_path, "3.13", pipenv=False)
    return warning_box(warning.title, warning.details)


def test_runtime_txt_warning_does_not_overwrite_another_pin_silently(tmp_path: Path) -> None:
    assert warning_for(tmp_path, {"runtime.txt": "python-3.12\n", ".python-version": "3.11\n"}) == (
        "   ! Warning: runtime.txt is deprecated\n"
        "   ! Python tools (pyenv, uv, ...) read the app's .python-version instead, which holds 3.11\n"
        "   ! and is ignored while runtime.txt exists. Deleting runtime.txt moves the app to 3.11; to\n"
        "   ! keep 3.12, write it into .python-version as well:\n"
        "   !\n"
        "   !     $ git rm runtime.txt && echo 3.12 > .python-version"
    )


def test_runtime_txt_warning_when_python_version_agrees(tmp_path: Path) -> None:
    assert warning_for(tmp_path, {"runtime.txt": "python-3.12\n", ".python-version": "3.12\n"}) == (
        "   ! Warning: runtime.txt is deprecated\n"
        "   ! The app's .python-version already holds 3.12, which Python tools (pyenv, uv, ...) read,\n"
        "   ! and which is used once runtime.txt is gone:\n"
        "   !\n"
        "   !     $ git rm runtime.txt"
    )
