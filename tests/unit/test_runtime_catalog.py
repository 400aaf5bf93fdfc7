"""The runtime catalogue: the shipped table, the model's queries and every loading error."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from python_buildpack.errors import BuildError
from python_buildpack.runtime import catalog as runtime_catalog
from python_buildpack.runtime.catalog import CATALOG_SETTING, RuntimeCatalog, load_catalog

# The seed's availability table ("Python Versions" > "Availability").
SEED_TABLE = {
    "scalingo-20": {"3.11": "3.11.12", "3.12": "3.12.10", "3.13": "3.13.3"},
    "scalingo-22": {"3.11": "3.11.14", "3.12": "3.12.12", "3.13": "3.13.11", "3.14": "3.14.2"},
    "scalingo-24": {"3.11": "3.11.14", "3.12": "3.12.12", "3.13": "3.13.11", "3.14": "3.14.2"},
}
DIGEST = "ab" * 32

# The format exactly as issue 3 writes it.
ISSUE_EXAMPLE = f"""\
default = "3.13"        # major version used when the app names none
[stacks.scalingo-22]    # one table per stack
"3.11" = "3.11.14"      # major -> newest available patch on this stack (all patches 0..N exist)
"3.12" = "3.12.12"
"3.13" = "3.13.11"
[[artifacts]]           # optional sha256 pins
file = "python-3.12.12-ubuntu-22.04-amd64.tar.zst"
sha256 = "{DIGEST.upper()}"
"""


def load_text(tmp_path: Path, text: str | bytes) -> RuntimeCatalog:
    path = tmp_path / "catalog.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return load_catalog({CATALOG_SETTING: str(path)})


def load_error(tmp_path: Path, text: str | bytes) -> BuildError:
    with pytest.raises(BuildError) as excinfo:
        load_text(tmp_path, text)
    error = excinfo.value
    assert str(tmp_path / "catalog.toml") in error.title
    assert CATALOG_SETTING in error.details  # says which setting to fix or unset
    return error


# --- the shipped catalogue ------------------------------------------------------------


def test_shipped_catalogue_is_the_seed_table() -> None:
    catalog = load_catalog({})
    assert catalog.default == "3.13"
    assert catalog.stacks == SEED_TABLE
    assert catalog.artifacts == []
    assert catalog.origin == str(runtime_catalog.SHIPPED_CATALOG)


def test_shipped_catalogue_is_package_data() -> None:
    # pyproject ships data/*.toml with the package; the loader looks next to the module.
    assert runtime_catalog.SHIPPED_CATALOG.parent == Path(runtime_catalog.__file__).resolve().parents[1] / "data"
    assert runtime_catalog.SHIPPED_CATALOG.suffix == ".toml"


def test_no_python_314_on_scalingo_20() -> None:
    catalog = load_catalog({})
    assert catalog.newest_patch("scalingo-20", "3.14") is None
    assert not catalog.is_available("scalingo-20", "3.14.0")
    assert catalog.is_available("scalingo-22", "3.14.0")


def test_missing_shipped_catalogue_is_reported_as_a_buildpack_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_catalog, "SHIPPED_CATALOG", tmp_path / "gone.toml")
    with pytest.raises(BuildError) as excinfo:
        load_catalog({})
    assert "gone.toml" in excinfo.value.title
    assert "bug in the buildpack" in excinfo.value.details


# --- queries --------------------------------------------------------------------------


def test_issue_example_parses(tmp_path: Path) -> None:
    catalog = load_text(tmp_path, ISSUE_EXAMPLE)
    assert catalog.majors("scalingo-22") == ["3.11", "3.12", "3.13"]
    assert catalog.sha256_for("python-3.12.12-ubuntu-22.04-amd64.tar.zst") == DIGEST  # lower-cased
    assert catalog.sha256_for("python-3.12.12-ubuntu-24.04-amd64.tar.zst") is None


def test_newest_patch() -> None:
    catalog = load_catalog({})
    assert catalog.newest_patch("scalingo-20", "3.12") == "3.12.10"
    assert catalog.newest_patch("scalingo-24", "3.12") == "3.12.12"
    assert catalog.newest_patch("scalingo-24", "3.10") is None
    assert catalog.newest_patch("scalingo-99", "3.12") is None


@pytest.mark.parametrize(
    ("stack", "version", "available"),
    [
        ("scalingo-22", "3.12.0", True),  # every patch from .0 ...
        ("scalingo-22", "3.12.7", True),
        ("scalingo-22", "3.12.12", True),  # ... up to the listed one
        ("scalingo-22", "3.12.13", False),
        ("scalingo-20", "3.12.11", False),
        ("scalingo-22", "3.12", True),  # a major: listed
        ("scalingo-22", "3.10", False),
        ("scalingo-22", "3.10.4", False),
        ("scalingo-22", "3.12.07", False),  # not a canonical version
        ("scalingo-22", "3.12.x", False),
        ("scalingo-22", "", False),
        ("scalingo-99", "3.12.0", False),
    ],
)
def test_is_available(stack: str, version: str, available: bool) -> None:
    assert load_catalog({}).is_available(stack, version) is available


def test_majors_sort_numerically(tmp_path: Path) -> None:
    catalog = load_text(
        tmp_path,
        'default = "3.9"\n[stacks.scalingo-24]\n"3.10" = "3.10.2"\n"3.9" = "3.9.20"\n"3.11" = "3.11.0"\n',
    )
    assert catalog.majors("scalingo-24") == ["3.9", "3.10", "3.11"]
    assert catalog.majors("scalingo-22") == []


def test_stacks_offering() -> None:
    catalog = load_catalog({})
    assert catalog.stacks_offering("3.14") == ["scalingo-22", "scalingo-24"]
    assert catalog.stacks_offering("3.13.5") == ["scalingo-22", "scalingo-24"]
    assert catalog.stacks_offering("3.13.3") == ["scalingo-20", "scalingo-22", "scalingo-24"]


# --- the override ---------------------------------------------------------------------


def test_override_replaces_the_shipped_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "mirror.toml"
    path.write_text('default = "3.12"\n[stacks.scalingo-24]\n"3.12" = "3.12.3"\n', encoding="utf-8")
    # A platform env file keeps its trailing newline: the path still works.
    catalog = load_catalog({CATALOG_SETTING: f"{path}\n"})
    assert catalog.stacks == {"scalingo-24": {"3.12": "3.12.3"}}
    assert catalog.origin == str(path)


def test_empty_override_means_the_shipped_catalogue() -> None:
    assert load_catalog({CATALOG_SETTING: "  \n"}).stacks == SEED_TABLE


# --- errors ---------------------------------------------------------------------------


def test_missing_override(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(BuildError) as excinfo:
        load_catalog({CATALOG_SETTING: str(path)})
    assert excinfo.value.title == f"Runtime catalogue not found: {path}"
    assert "unset it" in excinfo.value.details


def test_override_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as excinfo:
        load_catalog({CATALOG_SETTING: str(tmp_path)})
    assert "is not a regular file" in excinfo.value.details


def test_override_is_a_fifo_fails_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "catalog.toml"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            load_catalog({CATALOG_SETTING: str(fifo)})
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert isinstance(outcome[0], BuildError)
    assert "not a regular file" in outcome[0].details


def test_override_is_a_broken_symlink(tmp_path: Path) -> None:
    (tmp_path / "catalog.toml").symlink_to(tmp_path / "missing")
    with pytest.raises(BuildError) as excinfo:
        load_catalog({CATALOG_SETTING: str(tmp_path / "catalog.toml")})
    assert "broken symbolic link" in excinfo.value.details


def test_huge_catalogue(tmp_path: Path) -> None:
    error = load_error(tmp_path, "#" * (runtime_catalog.MAX_CATALOG_BYTES + 1))
    assert "larger than 4 MiB" in error.details


def test_not_utf8(tmp_path: Path) -> None:
    error = load_error(tmp_path, b'default = "3.13"\n# caf\xe9\n')
    assert "not UTF-8" in error.details


def test_not_toml(tmp_path: Path) -> None:
    error = load_error(tmp_path, 'default = "3.13\n')
    assert "not valid TOML" in error.details
    assert "line 1" in error.details


def test_deeply_nested_toml(tmp_path: Path) -> None:
    error = load_error(tmp_path, "a = " + "[" * 100_000)
    assert "not valid TOML" in error.details


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[stacks.scalingo-22]\n"3.12" = "3.12.1"\n', "default: Field required"),
        ('default = "3.12"\n', "stacks: Field required"),
        ('default = "3.12"\nstacks = {}\n', "lists no stack"),
        ('default = "3"\n[stacks.scalingo-22]\n"3.12" = "3.12.1"\n', "'3' is not a major version"),
        ('default = "3.12"\n[stacks.scalingo-22]\n3.12 = "3.12.1"\n', 'quote version keys, e.g. "3.12"'),
        ('default = "3.12"\n[stacks.scalingo22]\n"3.12" = "3.12.1"\n', "unknown stack 'scalingo22'"),
        ('default = "3.12"\n[stacks.scalingo-22]\n"3.12" = "3.13.1"\n', 'newest patch of 3.12, like "3.12.0"'),
        ('default = "3.12"\n[stacks.scalingo-22]\n"3.12" = "3.12"\n', "newest patch of 3.12"),
        ('default = "3.12"\n[stacks.scalingo-22]\n"3.12" = 3.12\n', "valid string"),
        ('default = "3.12"\n[stacks.scalingo-22]\n"3.x" = "3.x.1"\n', "'3.x' is not a major version"),
        (
            'default = "3.13"\n[stacks.scalingo-20]\n"3.12" = "3.12.1"\n[stacks.scalingo-22]\n"3.13" = "3.13.1"\n',
            "default '3.13' is not listed for scalingo-20",
        ),
        ('default = "3.12"\n[stack.scalingo-22]\n"3.12" = "3.12.1"\n', "stack: unknown key"),
        (
            'default = "3.12"\n[stacks.scalingo-22]\n"3.12" = "3.12.1"\n[[artifacts]]\nfile = "a.tar.zst"\nsha256 = "abc"\n',
            "not a sha256 digest",
        ),
        (
            'default = "3.12"\n[stacks.scalingo-22]\n"3.12" = "3.12.1"\n[[artifacts]]\nfile = "../a"\n'
            f'sha256 = "{DIGEST}"\n',
            "is not a file name",
        ),
        (
            'default = "3.12"\n[stacks.scalingo-22]\n"3.12" = "3.12.1"\n'
            + f'[[artifacts]]\nfile = "a.tar.zst"\nsha256 = "{DIGEST}"\n' * 2,
            "several [[artifacts]] for a.tar.zst",
        ),
        ('pins = "done"\ndefault = "3.12"\n[stacks.scalingo-22]\n"3.12" = "3.12.1"\n', "pins: Input should be 'pending'"),
    ],
)
def test_invalid_catalogue(tmp_path: Path, text: str, expected: str) -> None:
    error = load_error(tmp_path, text)
    assert error.title.startswith("Invalid runtime catalogue")
    assert expected in error.details


# --- archives and pins -------------------------------------------------------------------

ARCHIVES_EXAMPLE = f"""\
default = "3.12"
[stacks.scalingo-20]
"3.12" = "3.12.1"
[stacks.scalingo-22]
"3.11" = "3.11.0"
"3.12" = "3.12.0"
[[artifacts]]
file = "python-3.12.0-ubuntu-22.04-arm64.tar.zst"
sha256 = "{DIGEST}"
"""


def test_archives_are_every_patch_per_stack_and_architecture(tmp_path: Path) -> None:
    catalog = load_text(tmp_path, ARCHIVES_EXAMPLE)
    assert [a.file for a in catalog.archives()] == [
        "python-3.12.0-ubuntu-20.04-amd64.tar.zst",  # scalingo-20 has no arm64 runtimes
        "python-3.12.1-ubuntu-20.04-amd64.tar.zst",
        "python-3.11.0-ubuntu-22.04-amd64.tar.zst",
        "python-3.11.0-ubuntu-22.04-arm64.tar.zst",
        "python-3.12.0-ubuntu-22.04-amd64.tar.zst",
        "python-3.12.0-ubuntu-22.04-arm64.tar.zst",
    ]
    assert [a.file for a in catalog.archives(stacks=["scalingo-22"], arches=["arm64"])] == [
        "python-3.11.0-ubuntu-22.04-arm64.tar.zst",
        "python-3.12.0-ubuntu-22.04-arm64.tar.zst",
    ]
    unpinned = [a.file for a in catalog.unpinned()]
    assert "python-3.12.0-ubuntu-22.04-arm64.tar.zst" not in unpinned and len(unpinned) == 5
    assert catalog.pins is None


def test_pins_pending_marker(tmp_path: Path) -> None:
    catalog = load_text(tmp_path, 'pins = "pending"\n' + ARCHIVES_EXAMPLE)
    assert catalog.pins == "pending"


def test_release_check_shipped_catalogue_pins_every_archive_or_says_pending() -> None:
    """The release check (docs/distribution.md, "Releasing"): no archive ships unpinned by mistake.

    Without pins for every archive the catalogue lists, the file must say `pins = "pending"`;
    with all of them, the marker must be gone (a stale marker would hide the next omission).
    """
    catalog = load_catalog({})
    missing = [archive.file for archive in catalog.unpinned()]
    if catalog.pins == "pending":
        assert missing, 'every archive is pinned: remove pins = "pending" from the shipped catalogue'
    else:
        assert not missing, (
            f"the shipped catalogue has no sha256 pin for {len(missing)} archive(s), e.g. {missing[:3]}: "
            'run `python -m python_buildpack.runtime.pin` (docs/distribution.md) or say pins = "pending"'
        )


@pytest.mark.parametrize(("value", "strict"), [("", False), ("false", False), ("0", False), ("No", False),
                                                ("true", True), ("1", True), (" TRUE ", True), ("on", True)])
def test_require_pin_setting(value: str, strict: bool) -> None:
    assert runtime_catalog.require_pin({runtime_catalog.REQUIRE_PIN_SETTING: value}) is strict


def test_require_pin_setting_invalid() -> None:
    with pytest.raises(BuildError) as excinfo:
        runtime_catalog.require_pin({runtime_catalog.REQUIRE_PIN_SETTING: "maybe"})
    assert excinfo.value.title == "Invalid BP_PYTHON_RUNTIME_REQUIRE_PIN: 'maybe'"
    assert "true or false" in excinfo.value.details
