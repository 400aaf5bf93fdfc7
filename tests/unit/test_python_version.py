"""Version sources, their precedence, resolution against the shipped catalogue, and every refusal."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from python_buildpack.errors import BuildError
from python_buildpack.runtime.catalog import RuntimeCatalog, load_catalog
from python_buildpack.runtime.selection import ResolvedVersion, log_lines, resolve
from python_buildpack.runtime.version_files import RequestedVersion, VersionWarning, read_requested_version

DEFAULT = "3.13"


@pytest.fixture(scope="module")
def catalog() -> RuntimeCatalog:
    return load_catalog({})


def lock(**requires: object) -> str:
    return json.dumps({"_meta": {"hash": {"sha256": "0" * 64}, "requires": requires}, "default": {}})


def app(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return tmp_path


def read(tmp_path: Path, files: dict[str, str | bytes]) -> tuple[RequestedVersion, list[VersionWarning]]:
    return read_requested_version(app(tmp_path, files), DEFAULT, pipenv="Pipfile" in files)


def read_error(tmp_path: Path, files: dict[str, str | bytes]) -> BuildError:
    with pytest.raises(BuildError) as excinfo:
        read(tmp_path, files)
    return excinfo.value


def resolve_error(catalog: RuntimeCatalog, version: str, stack: str, source: str = ".python-version") -> BuildError:
    requested = _requested(version, source)
    with pytest.raises(BuildError) as excinfo:
        resolve(requested, catalog, stack)
    return excinfo.value


def code_lines(details: str) -> list[str]:
    """The ready-to-copy samples of a message (indented by four spaces)."""
    return [line.strip() for line in details.splitlines() if line.startswith("    ")]


def _requested(version: str, source: str = ".python-version") -> RequestedVersion:
    parts = version.split(".")
    full = version if len(parts) == 3 else None
    return RequestedVersion(major=".".join(parts[:2]), full=full, source=source, raw=version)


# --- precedence -----------------------------------------------------------------------

ALL_SOURCES: dict[str, str | bytes] = {
    "runtime.txt": "python-3.11.2\n",
    ".python-version": "3.12\n",
    "Pipfile": "[requires]\npython_version = '3.13'\n",
    "Pipfile.lock": lock(python_full_version="3.13.1", python_version="3.13"),
}


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        ((), ("runtime.txt", "3.11", "3.11.2")),
        (("runtime.txt",), (".python-version", "3.12", None)),
        (("runtime.txt", ".python-version"), ("Pipfile.lock", "3.13", "3.13.1")),
        (("runtime.txt", ".python-version", "Pipfile.lock"), ("default", DEFAULT, None)),
    ],
)
def test_precedence(tmp_path: Path, removed: tuple[str, ...], expected: tuple[str, str, str | None]) -> None:
    files = {name: content for name, content in ALL_SOURCES.items() if name not in removed}
    requested, _ = read(tmp_path, files)
    assert (requested.source, requested.major, requested.full) == expected


def test_pipfile_lock_full_version_wins_over_version(tmp_path: Path) -> None:
    requested, warnings = read(
        tmp_path, {"Pipfile": "", "Pipfile.lock": lock(python_version="3.12", python_full_version="3.12.4")}
    )
    assert (requested.major, requested.full, requested.origin) == ("3.12", "3.12.4", "Pipfile.lock python_full_version")
    assert warnings == []


def test_pipfile_lock_version_only(tmp_path: Path) -> None:
    requested, _ = read(tmp_path, {"Pipfile": "", "Pipfile.lock": lock(python_version="3.12")})
    assert (requested.major, requested.full, requested.origin) == ("3.12", None, "Pipfile.lock python_version")


def test_pipfile_lock_without_python_means_default(tmp_path: Path) -> None:
    requested, _ = read(tmp_path, {"Pipfile": "", "Pipfile.lock": lock()})
    assert requested.source == "default"


def test_pipfile_lock_without_pipfile_is_ignored(tmp_path: Path) -> None:
    # Only pipenv apps (Pipfile + Pipfile.lock) take their Python version from the lock.
    requested, _ = read(tmp_path, {"requirements.txt": "flask\n", "Pipfile.lock": lock(python_version="3.11")})
    assert requested.source == "default"


def test_default_without_any_source(tmp_path: Path) -> None:
    requested, warnings = read(tmp_path, {"requirements.txt": ""})
    assert requested == RequestedVersion(major=DEFAULT, full=None, source="default", raw=DEFAULT)
    assert warnings == []


def test_first_source_decides_even_when_broken(tmp_path: Path) -> None:
    # A broken runtime.txt is an error, not a reason to fall back to .python-version.
    error = read_error(tmp_path, {"runtime.txt": "python-3.12.x", ".python-version": "3.12"})
    assert "runtime.txt" in error.title


def test_lower_sources_are_not_read(tmp_path: Path) -> None:
    requested, _ = read(tmp_path, {".python-version": "3.12", "Pipfile": "", "Pipfile.lock": "{not json"})
    assert requested.source == ".python-version"


# --- .python-version syntax -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "major", "full"),
    [
        ("3.12", "3.12", None),
        ("3.12\n", "3.12", None),
        ("  3.12.7  \n\n", "3.12", "3.12.7"),
        ("3.12\r\n", "3.12", None),
        ("# pinned for prod\n\n3.11\n# end\n", "3.11", None),
        ("3.13.0  # comment after the version\n", "3.13", "3.13.0"),
        ("\ufeff3.12\n", "3.12", None),  # UTF-8 BOM from some Windows editors
        ("3.14.2", "3.14", "3.14.2"),
    ],
)
def test_python_version_file(tmp_path: Path, content: str, major: str, full: str | None) -> None:
    requested, warnings = read(tmp_path, {".python-version": content})
    assert (requested.major, requested.full, requested.source) == (major, full, ".python-version")
    assert warnings == []


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        ("3", "a version like 3.13 or 3.13.1"),
        ("3.12.x", "a version like 3.13"),
        ("3.12.0rc1", "pre-releases"),
        (">=3.12", "no ranges"),
        ("3.12.*", "no ranges"),
        ("pypy3.10", "other implementations"),
        ("system", "a version like 3.13"),
        ("3.012", "a version like 3.13"),
        ("3.12.7.1", "a version like 3.13"),
        ("３.１２", "a version like 3.13"),  # full-width digits are not ASCII digits
        ("python-3.12", "without prefix (here: 3.12)"),
        ("cpython3.11.4", "without prefix (here: 3.11.4)"),
    ],
)
def test_malformed_python_version_file(tmp_path: Path, content: str, hint: str) -> None:
    error = read_error(tmp_path, {".python-version": content + "\n"})
    assert error.title == f"Invalid Python version in .python-version: {content!r}"
    assert hint in error.details
    assert "Put one version in .python-version" in error.details
    assert code_lines(error.details)[0].startswith("3.")  # a ready-to-copy example


def test_several_versions(tmp_path: Path) -> None:
    error = read_error(tmp_path, {".python-version": "3.12\n3.11\n"})
    assert error.title == ".python-version lists several Python versions"
    assert "'3.12', '3.11'" in error.details
    assert "Put one version in .python-version" in error.details


def test_several_versions_on_one_line(tmp_path: Path) -> None:
    error = read_error(tmp_path, {".python-version": "3.12 3.11\n"})
    assert "several" in error.title


@pytest.mark.parametrize("content", ["", "\n\n", "   \n", "# only a comment\n"])
def test_empty_python_version_file(tmp_path: Path, content: str) -> None:
    error = read_error(tmp_path, {".python-version": content})
    assert error.title == ".python-version is empty"
    assert code_lines(error.details) == [DEFAULT]


def test_utf16_python_version_file(tmp_path: Path) -> None:
    # What PowerShell's `echo 3.12 > .python-version` writes.
    error = read_error(tmp_path, {".python-version": "3.12\r\n".encode("utf-16")})
    assert error.title == ".python-version is not UTF-8 text"
    assert "UTF-16" in error.details


def test_huge_python_version_file(tmp_path: Path) -> None:
    error = read_error(tmp_path, {".python-version": "3.12\n" + "#" * (64 * 1024)})
    assert error.title == "Cannot read .python-version"
    assert "larger than 64 KiB" in error.details


def test_python_version_directory(tmp_path: Path) -> None:
    (tmp_path / ".python-version").mkdir()
    error = read_error(tmp_path, {})
    assert "not a regular file" in error.details


def test_python_version_broken_symlink(tmp_path: Path) -> None:
    (tmp_path / ".python-version").symlink_to("/nonexistent/version")
    error = read_error(tmp_path, {})
    assert "broken symbolic link" in error.details


def test_python_version_fifo_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".python-version")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            read(tmp_path, {})
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert isinstance(outcome[0], BuildError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_python_version_file(tmp_path: Path) -> None:
    path = tmp_path / ".python-version"
    path.write_text("3.12\n")
    path.chmod(0)
    error = read_error(tmp_path, {})
    assert "cannot be read (Permission denied)" in error.details


# --- runtime.txt ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "major", "full"),
    [("python-3.12.7\n", "3.12", "3.12.7"), ("python-3.12", "3.12", None), ("  python-3.11.0 \n", "3.11", "3.11.0")],
)
def test_runtime_txt(tmp_path: Path, content: str, major: str, full: str | None) -> None:
    requested, warnings = read(tmp_path, {"runtime.txt": content})
    assert (requested.major, requested.full, requested.source) == (major, full, "runtime.txt")
    assert requested.raw == content.strip()
    [warning] = warnings
    assert warning.title == "runtime.txt is deprecated"
    # The one-line replacement, as a code sample, and the command that makes it.
    assert code_lines(warning.details)[0] == (full or major)
    assert f"echo {full or major} > .python-version" in warning.details


def test_runtime_txt_warning_mentions_ignored_python_version(tmp_path: Path) -> None:
    _, [warning] = read(tmp_path, {"runtime.txt": "python-3.12.7", ".python-version": "3.11"})
    assert "ignored while runtime.txt exists" in warning.details
    assert "Writing just 3.12" in warning.details  # suggests a major version over a pin


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        ("3.12.7", "(here: python-3.12.7)"),
        ("python3.12", 'a "python-" prefix'),
        ("python-3", 'a "python-" prefix'),
        ("python-3.12.x", 'a "python-" prefix'),
        ("pypy3.10-7.3", 'a "python-" prefix'),
    ],
)
def test_malformed_runtime_txt(tmp_path: Path, content: str, hint: str) -> None:
    error = read_error(tmp_path, {"runtime.txt": content})
    assert error.title == f"Invalid Python version in runtime.txt: {content!r}"
    assert hint in error.details
    assert "> .python-version" in error.details  # the fix is the recommended file


def test_runtime_txt_several_lines(tmp_path: Path) -> None:
    error = read_error(tmp_path, {"runtime.txt": "python-3.12.1\npython-3.11.1\n"})
    assert error.title == "runtime.txt lists several Python versions"


def test_runtime_txt_empty(tmp_path: Path) -> None:
    error = read_error(tmp_path, {"runtime.txt": "\n"})
    assert error.title == "runtime.txt is empty"
    assert "create a .python-version file" in error.details


def test_runtime_txt_not_utf8(tmp_path: Path) -> None:
    error = read_error(tmp_path, {"runtime.txt": b"python-3.12\xff\n"})
    assert error.title == "runtime.txt is not UTF-8 text"
    assert "offset 11" in error.details


# --- Pipfile.lock ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "title", "detail"),
    [
        ("{", "Pipfile.lock is not valid JSON", "line 1 column 2"),
        ("[]", "Pipfile.lock has an unexpected structure", "_meta.requires"),
        ('{"_meta": []}', "Pipfile.lock has an unexpected structure", "_meta.requires"),
        ('{"_meta": {"requires": "3.12"}}', "Pipfile.lock has an unexpected structure", "pipenv lock"),
        ("[" * 100_000, "Pipfile.lock is not valid JSON", "pipenv lock"),
        (lock(python_version=3.12), "Invalid Python version in Pipfile.lock (python_version)", "must be a string"),
        (lock(python_version="3.12.x"), "Invalid Python version in Pipfile.lock (python_version)", "[requires]"),
        (
            lock(python_full_version="3.13.0b1"),
            "Invalid Python version in Pipfile.lock (python_full_version)",
            "pipenv lock",
        ),
    ],
)
def test_broken_pipfile_lock(tmp_path: Path, content: str, title: str, detail: str) -> None:
    error = read_error(tmp_path, {"Pipfile": "", "Pipfile.lock": content})
    assert error.title.startswith(title)
    assert detail in error.details


def test_pipfile_lock_not_utf8(tmp_path: Path) -> None:
    error = read_error(tmp_path, {"Pipfile": "", "Pipfile.lock": b'{"_meta": "\xe9"}'})
    assert error.title == "Pipfile.lock is not UTF-8 text"
    assert "pipenv lock" in error.details


# --- resolution -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "major", "expected"),
    [
        ("scalingo-20", "3.11", "3.11.12"),
        ("scalingo-20", "3.12", "3.12.10"),
        ("scalingo-20", "3.13", "3.13.3"),
        ("scalingo-22", "3.11", "3.11.14"),
        ("scalingo-22", "3.12", "3.12.12"),
        ("scalingo-22", "3.13", "3.13.11"),
        ("scalingo-22", "3.14", "3.14.2"),
        ("scalingo-24", "3.12", "3.12.12"),
        ("scalingo-24", "3.14", "3.14.2"),
    ],
)
def test_major_resolves_to_newest_patch_of_the_stack(
    catalog: RuntimeCatalog, stack: str, major: str, expected: str
) -> None:
    resolved = resolve(_requested(major), catalog, stack)
    assert resolved == ResolvedVersion(version=expected, requested=_requested(major))


def test_default_resolves_per_stack(tmp_path: Path, catalog: RuntimeCatalog) -> None:
    requested, _ = read_requested_version(tmp_path, catalog.default, pipenv=False)
    assert resolve(requested, catalog, "scalingo-20").version == "3.13.3"
    assert resolve(requested, catalog, "scalingo-24").version == "3.13.11"


def test_full_version_is_used_exactly(catalog: RuntimeCatalog) -> None:
    resolved = resolve(_requested("3.12.0"), catalog, "scalingo-22")
    assert resolved.version == "3.12.0"
    assert resolved.newest_patch == "3.12.12"
    newest = resolve(_requested("3.12.12"), catalog, "scalingo-22")
    assert (newest.version, newest.newest_patch) == ("3.12.12", None)


def test_patch_newer_than_the_stack_offers(catalog: RuntimeCatalog) -> None:
    error = resolve_error(catalog, "3.12.13", "scalingo-22")
    assert error.title == "Python 3.12.13 is not available on scalingo-22"
    assert "The newest Python 3.12 on scalingo-22 is 3.12.12" in error.details
    assert "Available on scalingo-22: 3.11 (up to 3.11.14)" in error.details
    assert ".python-version requests Python '3.12.13'" in error.details
    assert code_lines(error.details) == ["3.12"]  # the fix: the major version


def test_patch_available_on_newer_stacks_only(catalog: RuntimeCatalog) -> None:
    error = resolve_error(catalog, "3.12.11", "scalingo-20")
    assert error.title == "Python 3.12.11 is not available on scalingo-20"
    assert "available on scalingo-22, scalingo-24" in error.details
    assert "stacks-set scalingo-24" in error.details


def test_python_314_on_scalingo_20(catalog: RuntimeCatalog) -> None:
    error = resolve_error(catalog, "3.14", "scalingo-20")
    assert error.title == "Python 3.14 is not available on scalingo-20"
    assert "scalingo-20 is end-of-life" in error.details
    assert "stacks-set scalingo-24" in error.details
    assert "Available on scalingo-20: 3.11 (up to 3.11.12), 3.12 (up to 3.12.10), 3.13 (up to 3.13.3)" in error.details
    assert code_lines(error.details) == ["3.13"]


def test_python_314_resolves_on_newer_stacks(catalog: RuntimeCatalog) -> None:
    assert resolve(_requested("3.14.1"), catalog, "scalingo-24").version == "3.14.1"


@pytest.mark.parametrize("version", ["3.10", "3.10.12", "3.9", "3.8.18", "2.7", "2.7.18"])
def test_end_of_life_major(catalog: RuntimeCatalog, version: str) -> None:
    major = ".".join(version.split(".")[:2])
    error = resolve_error(catalog, version, "scalingo-24")
    assert error.title == f"Python {major} is end-of-life"
    assert "no longer supported" in error.details
    assert "Available on scalingo-24" in error.details
    assert "Put one version in .python-version" in error.details


@pytest.mark.parametrize("version", ["3.15", "3.15.0", "3.99", "4.0"])
def test_major_not_supported_yet(catalog: RuntimeCatalog, version: str) -> None:
    major = ".".join(version.split(".")[:2])
    error = resolve_error(catalog, version, "scalingo-22")
    assert error.title == f"Python {major} is not supported yet"
    assert code_lines(error.details) == ["3.13"]


def test_refusal_names_the_source_and_its_fix(catalog: RuntimeCatalog, tmp_path: Path) -> None:
    requested, _ = read(tmp_path, {"Pipfile": "", "Pipfile.lock": lock(python_version="3.10")})
    with pytest.raises(BuildError) as excinfo:
        resolve(requested, catalog, "scalingo-22")
    assert "Pipfile.lock python_version requests Python '3.10'" in excinfo.value.details
    assert 'Set python_version = "3.13" in the [requires] section of Pipfile' in excinfo.value.details

    requested, _ = read(tmp_path, {"runtime.txt": "python-3.15.0"})
    with pytest.raises(BuildError) as excinfo:
        resolve(requested, catalog, "scalingo-22")
    assert "runtime.txt requests Python 'python-3.15.0'" in excinfo.value.details
    assert "git rm runtime.txt && echo 3.13 > .python-version" in excinfo.value.details


def test_gap_in_a_custom_catalogue(tmp_path: Path) -> None:
    custom = tmp_path / "c.toml"
    custom.write_text('default = "3.13"\n[stacks.scalingo-24]\n"3.11" = "3.11.1"\n"3.13" = "3.13.1"\n')
    catalog = load_catalog({"BP_PYTHON_RUNTIME_CATALOG": str(custom)})
    error = resolve_error(catalog, "3.12", "scalingo-24")
    assert error.title == "Python 3.12 is not available on scalingo-24"
    assert "has no Python 3.12 for scalingo-24" in error.details


def test_stack_missing_from_the_catalogue(tmp_path: Path) -> None:
    custom = tmp_path / "c.toml"
    custom.write_text('default = "3.13"\n[stacks.scalingo-24]\n"3.13" = "3.13.1"\n')
    catalog = load_catalog({"BP_PYTHON_RUNTIME_CATALOG": str(custom)})
    requested, _ = read_requested_version(tmp_path, catalog.default, pipenv=False)
    with pytest.raises(BuildError) as excinfo:
        resolve(requested, catalog, "scalingo-22")
    assert excinfo.value.title == "No Python versions for stack scalingo-22"
    assert str(custom) in excinfo.value.details
    assert "[stacks.scalingo-22]" in excinfo.value.details


# --- build log ------------------------------------------------------------------------


def test_log_lines(tmp_path: Path, catalog: RuntimeCatalog) -> None:
    def lines(files: dict[str, str | bytes]) -> list[str]:
        directory = tmp_path / str(len(list(tmp_path.iterdir())))
        directory.mkdir()
        requested, _ = read(directory, files)
        return log_lines(resolve(requested, catalog, "scalingo-22"))

    assert lines({}) == ["Using Python 3.13.11 (default; no Python version file found)"]
    assert lines({".python-version": "3.12"}) == ["Using Python 3.12.12 (3.12 from .python-version)"]
    assert lines({".python-version": "3.12.12"}) == ["Using Python 3.12.12 (3.12.12 from .python-version)"]
    assert lines({"runtime.txt": "python-3.11"}) == ["Using Python 3.11.14 (3.11 from runtime.txt)"]
    assert lines({"Pipfile": "", "Pipfile.lock": lock(python_version="3.14")}) == [
        "Using Python 3.14.2 (3.14 from Pipfile.lock python_version)"
    ]
    pinned_old = lines({".python-version": "3.12.3"})
    assert pinned_old[0] == "Using Python 3.12.3 (3.12.3 from .python-version)"
    assert pinned_old[1] == (
        "Python 3.12.12 is available: request 3.12 in .python-version to get security fixes automatically."
    )
