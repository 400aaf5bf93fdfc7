"""The sticky version of apps without a version file, the warning that they have none, the
end-of-life warning from the catalogue's dates, and the misspelled version file names."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from support.boxes import warning_box

from python_buildpack.app import source_checks
from python_buildpack.cnb import toml_io
from python_buildpack.errors import BuildError
from python_buildpack.layers import python as python_layer
from python_buildpack.runtime.catalog import RuntimeCatalog, load_catalog
from python_buildpack.runtime.policy import end_of_life_warning, missing_file_warning, sticky
from python_buildpack.runtime.selection import PREVIOUS_BUILD, log_lines, resolve
from python_buildpack.runtime.version_files import DEFAULT, RequestedVersion, read_requested_version

STACK = "scalingo-24"


@pytest.fixture(scope="module")
def catalog() -> RuntimeCatalog:
    return load_catalog({})


def default(catalog: RuntimeCatalog) -> RequestedVersion:
    return RequestedVersion(major=catalog.default, full=None, source=DEFAULT, raw=catalog.default)


# --- sticky version -------------------------------------------------------------------


def test_no_version_file_keeps_the_previous_major(catalog: RuntimeCatalog) -> None:
    requested = sticky(default(catalog), "3.12.3", catalog, STACK)
    assert (requested.major, requested.full, requested.source) == ("3.12", None, PREVIOUS_BUILD)
    resolved = resolve(requested, catalog, STACK)
    assert resolved.version == catalog.stacks[STACK]["3.12"]  # the newest patch of that major
    assert log_lines(resolved) == [
        f"Using Python {resolved.version} (3.12 from the previous build; add a .python-version file to choose)"
    ]


def test_first_build_uses_the_default(catalog: RuntimeCatalog) -> None:
    assert sticky(default(catalog), None, catalog, STACK) == default(catalog)


def test_a_version_file_beats_the_previous_build(catalog: RuntimeCatalog) -> None:
    requested = RequestedVersion(major="3.13", full=None, source=".python-version", raw="3.13")
    assert sticky(requested, "3.12.3", catalog, STACK) is requested


@pytest.mark.parametrize("previous", ["3.9.1", "pypy-7.3", "", "3.12"])
def test_previous_version_not_offered_or_not_a_version_means_default(catalog: RuntimeCatalog, previous: str) -> None:
    assert sticky(default(catalog), previous, catalog, STACK) == default(catalog)


def test_previous_version_read_from_the_python_layer_metadata(tmp_path: Path) -> None:
    assert python_layer.previous_version(tmp_path) is None
    toml_io.dump({"metadata": {"stack": STACK, "arch": "amd64", "python_version": "3.12.3"}}, tmp_path / "python.toml")
    assert python_layer.previous_version(tmp_path) == "3.12.3"
    (tmp_path / "python.toml").write_text("not = [toml")
    assert python_layer.previous_version(tmp_path) is None  # damaged metadata: a first build


# --- no version file ------------------------------------------------------------------


def test_warning_without_version_file(catalog: RuntimeCatalog) -> None:
    resolved = resolve(default(catalog), catalog, STACK)
    warning = missing_file_warning(resolved)
    assert warning is not None and warning.title == "No Python version file"
    assert f"uses Python {resolved.version}" in warning.details
    assert f"$ echo {catalog.default} > .python-version" in warning.details
    sticky_resolved = resolve(sticky(default(catalog), "3.12.1", catalog, STACK), catalog, STACK)
    warning = missing_file_warning(sticky_resolved)
    assert warning is not None and "previous build (3.12.1)" in warning.details
    assert "$ echo 3.12 > .python-version" in warning.details


def test_no_warning_with_a_version_file(catalog: RuntimeCatalog) -> None:
    requested = RequestedVersion(major="3.13", full=None, source=".python-version", raw="3.13")
    assert missing_file_warning(resolve(requested, catalog, STACK)) is None


# --- end of life ----------------------------------------------------------------------


def eol_catalog(**dates: date) -> RuntimeCatalog:
    return RuntimeCatalog.model_validate(
        {
            "default": "3.13",
            "stacks": {STACK: {"3.11": "3.11.14", "3.12": "3.12.12", "3.13": "3.13.11"}},
            "end_of_life": {k.replace("_", "."): v for k, v in dates.items()},
        }
    )


def test_shipped_catalogue_has_end_of_life_dates(catalog: RuntimeCatalog) -> None:
    for major in catalog.majors(STACK):
        assert major in catalog.end_of_life


@pytest.mark.parametrize(("days_left", "warns"), [(400, False), (366, False), (365, True), (30, True), (1, True)])
def test_end_of_life_warning_within_a_year(days_left: int, warns: bool) -> None:
    today = date(2026, 11, 29)
    catalog = eol_catalog(**{"3_11": today + timedelta(days=days_left), "3_13": date(2029, 10, 31)})
    resolved = resolve(RequestedVersion("3.11", None, ".python-version", "3.11"), catalog, STACK)
    warning = end_of_life_warning(resolved, catalog, STACK, today)
    assert (warning is not None) == warns
    if warning:
        assert warning.title == "Python 3.11 is near its end of life"
        assert "Upgrade the app to Python 3.13" in warning.details
        assert "$ echo 3.13 > .python-version" in warning.details


def test_end_of_life_passed(catalog: RuntimeCatalog) -> None:
    catalog = eol_catalog(**{"3_11": date(2026, 1, 1)})
    resolved = resolve(RequestedVersion("3.11", "3.11.2", "runtime.txt", "python-3.11.2"), catalog, STACK)
    warning = end_of_life_warning(resolved, catalog, STACK, date(2026, 11, 29))
    assert warning is not None and warning.title == "Python 3.11 is end-of-life"
    assert "reached its end of life on 2026-01-01" in warning.details
    assert "request 3.13 in runtime.txt." in warning.details
    # the exact pin's note about a newer patch stays
    assert any("Python 3.11.14 is available" in line for line in log_lines(resolved))


def test_no_end_of_life_date_no_warning() -> None:
    catalog = eol_catalog()
    resolved = resolve(RequestedVersion("3.11", None, ".python-version", "3.11"), catalog, STACK)
    assert end_of_life_warning(resolved, catalog, STACK, date(2099, 1, 1)) is None


def test_catalogue_refuses_bad_end_of_life_keys() -> None:
    with pytest.raises(ValueError, match="not a major version"):
        eol_catalog(**{"latest": date(2030, 1, 1)})


# --- misspelled version files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "correct"),
    [(".python_version", ".python-version"), ("python-version", ".python-version"),
     (".python-version.txt", ".python-version"), ("runtime.txt ", "runtime.txt"), (" .python-version", ".python-version")],
)  # fmt: skip
def test_misspelled_version_file_is_an_error(tmp_path: Path, name: str, correct: str) -> None:
    (tmp_path / name).write_text("3.12\n")
    with pytest.raises(BuildError) as excinfo:
        source_checks.check_version_file_names(tmp_path)
    error = excinfo.value
    assert error.title == f"Misspelled Python version file: {name!r}"
    assert f"named exactly {correct}" in error.details
    assert "git mv" in error.details or ".python-version" in error.details


def test_every_misspelling_names_a_real_version_file() -> None:
    assert set(source_checks.MISSPELLED_VERSION_FILES.values()) == {".python-version", "runtime.txt"}
    assert not {".python-version", "runtime.txt"} & source_checks.MISSPELLED_VERSION_FILES.keys()


def test_correct_names_pass(tmp_path: Path) -> None:
    (tmp_path / ".python-version").write_text("3.12\n")
    (tmp_path / "runtime.txt").write_text("python-3.12.1\n")
    source_checks.check_version_file_names(tmp_path)
    assert read_requested_version(tmp_path, "3.13", pipenv=False)[0].source == "runtime.txt"


def test_end_of_life_major_offered_by_a_catalogue_without_its_date() -> None:
    # A private mirror's catalogue may still offer 3.10 without an [end_of_life] entry.
    catalog = RuntimeCatalog.model_validate(
        {"default": "3.13", "stacks": {STACK: {"3.10": "3.10.13", "3.13": "3.13.11"}}}
    )
    resolved = resolve(RequestedVersion("3.10", None, ".python-version", "3.10"), catalog, STACK)
    warning = end_of_life_warning(resolved, catalog, STACK, date(2026, 11, 29))
    assert warning is not None
    assert warning_box(warning.title, warning.details) == (
        "   ! Warning: Python 3.10 is end-of-life\n"
        "   ! Python 3.10 is end-of-life: it gets no security fixes, and builds will refuse it once\n"
        "   ! the platform stops offering it. Upgrade the app to Python 3.13: test it locally, then\n"
        "   ! request 3.13 in .python-version, for example:\n"
        "   !\n"
        "   !     $ echo 3.13 > .python-version"
    )
