"""Properties of the version parsers, the resolver and the catalogue loader.

- whatever the bytes in a version source or a catalogue, the result is a valid request or
  catalogue, or a BuildError: never another exception;
- the resolver returns a version the catalogue offers on the stack, and refuses only versions
  it does not offer;
- what one part writes, another reads back: version files, the runtime.txt replacement the
  deprecation warning suggests, catalogues written with tomli-w.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from python_buildpack.errors import BuildError
from python_buildpack.runtime.catalog import CATALOG_SETTING, RuntimeCatalog, load_catalog
from python_buildpack.runtime.selection import log_lines, resolve
from python_buildpack.runtime.version_files import RequestedVersion, read_requested_version
from python_buildpack.runtime.version_numbers import FULL_RE, MAJOR_RE, major_of
from python_buildpack.stacks.table import STACK_TO_UBUNTU, archive_name

STACKS = sorted(STACK_TO_UBUNTU)
DEFAULT = "3.13"
# File IO in every example: timing varies with the machine, correctness does not.
properties = settings(deadline=None, max_examples=100)


@contextmanager
def app_dir(files: Mapping[str, bytes]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        for name, content in files.items():
            (root / name).write_bytes(content)
        yield root


def check_request(requested: RequestedVersion) -> None:
    assert MAJOR_RE.fullmatch(requested.major)
    if requested.full is not None:
        assert FULL_RE.fullmatch(requested.full)
        assert major_of(requested.full) == requested.major


# --- strategies -----------------------------------------------------------------------

numbers = st.integers(min_value=0, max_value=999_999_999)
majors = st.builds(lambda x, y: f"{x}.{y}", numbers, numbers)
fulls = st.builds(lambda x, y, z: f"{x}.{y}.{z}", numbers, numbers, numbers)
versions = majors | fulls

# Text made of the pieces version files are made of, so that near-misses are common.
TOKENS = ["3", "12", "0", "1", ".", "python-", "python", "#", " ", "\t", "\n", "\r\n", "\ufeff", "x", "-", "\x00", "é"]
version_like_text = st.lists(st.sampled_from(TOKENS) | versions, max_size=12).map("".join)
near_versions = st.builds(
    lambda before, version, after: f"{before}{version}{after}",
    st.sampled_from(["", "python-", "python", "  ", "# c\n", "\n\n", "cpython-", "\ufeff"]),
    versions,
    st.sampled_from(["", "\n", " # c\n", "\r\n", "\n3.12", ".1", "rc1", "\x00"]),
)
file_contents = (
    st.binary(max_size=200)
    | near_versions.map(lambda text: text.encode("utf-8"))
    | st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass"))
    | version_like_text.map(lambda text: text.encode("utf-8"))
    | version_like_text.map(lambda text: text.encode("utf-16"))
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | versions,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
lock_keys = st.sampled_from(["python_version", "python_full_version", "other"])
pipfile_locks = st.one_of(
    st.fixed_dictionaries({"_meta": st.fixed_dictionaries({"requires": st.dictionaries(lock_keys, json_values)})}),
    st.fixed_dictionaries({"_meta": json_values}),
    json_values,
).map(lambda data: json.dumps(data).encode("utf-8"))


@st.composite
def catalogues(draw: st.DrawFn) -> dict[str, Any]:
    small = st.integers(min_value=0, max_value=20)
    default_major = (draw(st.integers(2, 4)), draw(small))
    stacks: dict[str, dict[str, str]] = {}
    for stack in draw(st.lists(st.sampled_from(STACKS), min_size=1, unique=True)):
        listed = draw(st.sets(st.tuples(st.integers(2, 4), small), max_size=5)) | {default_major}
        stacks[stack] = {f"{x}.{y}": f"{x}.{y}.{draw(small)}" for x, y in listed}
    hex_digits = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)
    files = st.builds(
        lambda v, stack: archive_name(v, STACK_TO_UBUNTU[stack], "amd64"), fulls, st.sampled_from(STACKS)
    )
    pins = draw(st.dictionaries(files, hex_digits, max_size=3))
    data: dict[str, Any] = {"default": "{}.{}".format(*default_major), "stacks": stacks}
    if pins:
        data["artifacts"] = [{"file": file, "sha256": digest} for file, digest in pins.items()]
    return data


toml_keys = st.sampled_from(["default", "stacks", "artifacts", "scalingo-22", "3.12", "file", "sha256"]) | st.text(
    max_size=6
)
toml_values = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=12) | versions,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(toml_keys, children, max_size=3),
    max_leaves=10,
)
toml_documents = st.dictionaries(toml_keys, toml_values, max_size=4)


@st.composite
def damaged_catalogues(draw: st.DrawFn) -> dict[str, Any]:
    """A valid catalogue with one value replaced: most become invalid, some stay valid."""
    data = draw(catalogues())
    stack = draw(st.sampled_from(sorted(data["stacks"])))
    table = data["stacks"][stack]
    where = draw(st.sampled_from(["default", "key", "value", "stack", "artifacts"]))
    junk = draw(toml_values)
    if where == "default":
        data["default"] = junk
    elif where == "key":
        table[str(junk)] = table.pop(draw(st.sampled_from(sorted(table))))
    elif where == "value":
        table[draw(st.sampled_from(sorted(table)))] = junk
    elif where == "stack":
        data["stacks"][str(junk)] = data["stacks"].pop(stack)
    else:
        data["artifacts"] = junk
    return data


# --- parsers: a request or a BuildError -----------------------------------------------


@properties
@given(name=st.sampled_from(["runtime.txt", ".python-version"]), content=file_contents)
def test_version_files_give_a_request_or_a_build_error(name: str, content: bytes) -> None:
    with app_dir({name: content}) as directory:
        try:
            requested, _ = read_requested_version(directory, DEFAULT, pipenv=False)
        except BuildError as error:
            assert name in error.title
            return
    check_request(requested)
    assert requested.source == name
    assert requested.raw in content.decode("utf-8-sig")


@properties
@given(content=pipfile_locks | file_contents)
def test_pipfile_lock_gives_a_request_or_a_build_error(content: bytes) -> None:
    with app_dir({"Pipfile": b"", "Pipfile.lock": content}) as directory:
        try:
            requested, _ = read_requested_version(directory, DEFAULT, pipenv=True)
        except BuildError as error:
            assert "Pipfile.lock" in error.title
            return
    check_request(requested)
    assert requested.source in ("Pipfile.lock", "default")


# --- round trips ----------------------------------------------------------------------


@properties
@given(version=versions, padding=st.sampled_from(["", "\n", "  \n\n", "\r\n", "  # a comment\n"]))
def test_python_version_file_round_trip(version: str, padding: str) -> None:
    with app_dir({".python-version": f"# version\n{version}{padding}".encode()}) as directory:
        requested, warnings = read_requested_version(directory, DEFAULT, pipenv=False)
    assert (requested.version, requested.source, warnings) == (version, ".python-version", [])


@properties
@given(version=versions)
def test_runtime_txt_replacement_means_the_same_version(version: str) -> None:
    with app_dir({"runtime.txt": f"python-{version}\n".encode()}) as directory:
        from_runtime_txt, [warning] = read_requested_version(directory, DEFAULT, pipenv=False)
    assert from_runtime_txt.version == version
    # The one line the warning tells the user to put in .python-version.
    [replacement] = [
        line.strip() for line in warning.details.splitlines() if line.startswith("    ") and "$" not in line
    ]
    with app_dir({".python-version": f"{replacement}\n".encode()}) as directory:
        from_python_version, _ = read_requested_version(directory, DEFAULT, pipenv=False)
    assert (from_python_version.major, from_python_version.full) == (from_runtime_txt.major, from_runtime_txt.full)


@properties
@given(version=versions, key=st.sampled_from(["python_version", "python_full_version"]))
def test_pipfile_lock_round_trip(version: str, key: str) -> None:
    lock = json.dumps({"_meta": {"requires": {key: version}}}).encode()
    with app_dir({"Pipfile": b"", "Pipfile.lock": lock}) as directory:
        requested, _ = read_requested_version(directory, DEFAULT, pipenv=True)
    assert (requested.version, requested.origin) == (version, f"Pipfile.lock {key}")


@properties
@given(data=catalogues())
def test_catalogue_round_trip(data: dict[str, Any]) -> None:
    with app_dir({"catalog.toml": tomli_w.dumps(data).encode()}) as directory:
        catalog = load_catalog({CATALOG_SETTING: str(directory / "catalog.toml")})
    expected = dict(data)
    if "artifacts" in data:
        expected["artifacts"] = [dict(a, sha256=a["sha256"].lower()) for a in data["artifacts"]]
    assert catalog.model_dump(exclude_unset=True) == expected  # optional keys it lacks stay unset
    for artifact in expected.get("artifacts", []):
        assert catalog.sha256_for(artifact["file"]) == artifact["sha256"]


# --- catalogue loader: a catalogue or a BuildError ------------------------------------


def load_or_error(content: bytes) -> RuntimeCatalog | BuildError:
    with app_dir({"catalog.toml": content}) as directory:
        try:
            return load_catalog({CATALOG_SETTING: str(directory / "catalog.toml")})
        except BuildError as error:
            assert str(directory / "catalog.toml") in error.title
            return error


@properties
@given(content=file_contents | (toml_documents | damaged_catalogues()).map(lambda doc: tomli_w.dumps(doc).encode()))
def test_catalogue_loader_gives_a_catalogue_or_a_build_error(content: bytes) -> None:
    catalog = load_or_error(content)
    if isinstance(catalog, RuntimeCatalog):
        for stack, table in catalog.stacks.items():
            assert catalog.default in table
            for major, newest in table.items():
                assert catalog.is_available(stack, newest)
                assert catalog.is_available(stack, f"{major}.0")


# --- resolver: an available version or a BuildError -----------------------------------

shipped = load_catalog({})


@properties
@given(
    catalog=st.just(shipped) | catalogues().map(RuntimeCatalog.model_validate),
    stack=st.sampled_from(STACKS),
    major=st.tuples(st.integers(2, 4), st.integers(0, 20)),
    patch=st.none() | st.integers(0, 40),
)
def test_resolver_returns_an_available_version_or_refuses(
    catalog: RuntimeCatalog, stack: str, major: tuple[int, int], patch: int | None
) -> None:
    major_text = "{}.{}".format(*major)
    full = None if patch is None else f"{major_text}.{patch}"
    requested = RequestedVersion(major=major_text, full=full, source=".python-version", raw=full or major_text)
    try:
        resolved = resolve(requested, catalog, stack)
    except BuildError as error:
        assert not catalog.is_available(stack, requested.version)
        assert repr(requested.raw) in error.details  # names the value ...
        assert stack in error.details  # ... and what this stack offers
        return
    assert FULL_RE.fullmatch(resolved.version)
    assert catalog.is_available(stack, resolved.version)
    assert resolved.version == (full or catalog.newest_patch(stack, major_text))
    assert resolved.version in log_lines(resolved)[0]
