"""`python -m python_buildpack.runtime.pin`: real archives downloaded over loopback, the
catalogue edited in place, missing and changed archives reported.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.archives import recompressed, small_runtime, tiny_archive
from support.catalogs import A_20_0, A_20_1, A_22_AMD, A_22_ARM, CATALOG_HEAD, run_cli

from python_buildpack.runtime import pin as pin_command
from python_buildpack.runtime.catalog import CATALOG_SETTING, load_catalog
from python_buildpack_dev.runtime_mirror.archives import file_sha256
from python_buildpack_dev.runtime_mirror.server import Faults, serve

ALL = (A_20_0, A_20_1, A_22_AMD, A_22_ARM)



def catalog_text(pinned: str) -> str:
    return CATALOG_HEAD + f"""
# Checked by hand.
[[artifacts]]
file = "{A_20_1}"
sha256 = "{pinned}"  # first pin
"""


@pytest.fixture
def runtime_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runtime-shaped archive (the pin command only hashes bytes: the real one is not needed)."""
    return small_runtime(tmp_path_factory.mktemp("archive") / "runtime.tar.zst", size=1_000_000)


@pytest.fixture
def mirror_dir(tmp_path: Path, runtime_archive: Path) -> Path:
    """A mirror serving the archive under the four names the catalogue lists."""
    directory = tmp_path / "mirror"
    directory.mkdir()
    for name in ALL:
        os.link(runtime_archive, directory / name)
    return directory




def test_pins_every_archive_in_place_and_drops_the_pending_marker(
    tmp_path: Path, mirror_dir: Path, runtime_archive: Path
) -> None:
    digest = file_sha256(runtime_archive)
    path = tmp_path / "catalog.toml"
    path.write_text(catalog_text(digest))
    faults = Faults()
    with serve(mirror_dir, faults) as url:
        proc = run_cli("--base-url", url, str(path))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.count("new pin") == 3 and f"{A_20_1}: unchanged" in proc.stdout
        assert 'removed pins = "pending"' in proc.stdout
        assert proc.stderr == ""
        # Comments, order and the existing pin's line stay as written; new pins are appended.
        expected = catalog_text(digest).replace('pins = "pending"  # until the release machine runs\n', "")
        for name in (A_20_0, A_22_AMD, A_22_ARM):
            expected += f'\n[[artifacts]]\nfile = "{name}"\nsha256 = "{digest}"\n'
        assert path.read_text() == expected
        catalog = load_catalog({CATALOG_SETTING: str(path)})
        assert catalog.pins is None and not catalog.unpinned()
        assert sorted(faults.requests) == sorted(f"/{name}" for name in ALL)

        # Again, with the mirror from the build setting: nothing to change.
        again = run_cli(str(path), env={"BP_PYTHON_RUNTIME_BASE_URL": url})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 unchanged, 0 new, 0 changed, 0 missing" in again.stdout
    assert path.read_text() == expected


def test_missing_and_changed_archives_are_reported_and_changed_pins_kept(
    tmp_path: Path, mirror_dir: Path, runtime_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = file_sha256(runtime_archive)
    path = tmp_path / "catalog.toml"
    path.write_text(catalog_text(good))
    (mirror_dir / A_22_ARM).unlink()
    (mirror_dir / A_20_1).unlink()
    rebuilt = file_sha256(recompressed(runtime_archive, mirror_dir / A_20_1))
    assert rebuilt != good
    with serve(mirror_dir) as url:
        status = pin_command.main(["--base-url", url, str(path)])
        out, err = capsys.readouterr()
        assert status == 1
        assert "Traceback" not in err
        assert "1 archive changed on the mirror" in err
        assert f"pinned sha256 {good}" in err and f"served sha256 {rebuilt}" in err
        assert "The old pins were kept" in err and "--accept-changed" in err
        assert "1 archive listed but missing on the mirror" in err
        assert f"{A_22_ARM} (HTTP 404" in err
        catalog = load_catalog({CATALOG_SETTING: str(path)})
        assert catalog.sha256_for(A_20_1) == good  # a changed pin needs a decision
        assert catalog.sha256_for(A_20_0) == catalog.sha256_for(A_22_AMD) == good
        assert catalog.pins == "pending"  # still incomplete
        assert [a.file for a in catalog.unpinned()] == [A_22_ARM]

        status = pin_command.main(["--base-url", url, "--stack", "scalingo-20", "--accept-changed", str(path)])
        out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "The pins were replaced (--accept-changed)" in err
    assert load_catalog({CATALOG_SETTING: str(path)}).sha256_for(A_20_1) == rebuilt
    assert f'sha256 = "{rebuilt}"  # first pin' in path.read_text()  # the line's comment survives


def test_selection_and_new_only_limit_the_downloads(
    tmp_path: Path, mirror_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG_HEAD)
    faults = Faults()
    with serve(mirror_dir, faults) as url:
        assert pin_command.main(["--base-url", url, "--stack", "scalingo-22", "--arch", "arm64", str(path)]) == 0
        assert faults.requests == [f"/{A_22_ARM}"]
        assert pin_command.main(["--base-url", url, "--new-only", str(path)]) == 0
        assert sorted(faults.requests) == sorted(f"/{name}" for name in ALL)  # A_22_ARM once only
    assert 'pins = "pending"' not in path.read_text()
    capsys.readouterr()


def failed(capsys: pytest.CaptureFixture[str], args: list[str], status: int = 2) -> str:
    assert pin_command.main(args) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and "! Error:" in err
    return " ".join(line.removeprefix("!").strip() for line in err.splitlines())  # unwrapped


def test_unusable_catalogues_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "catalog.toml"
    assert "Runtime catalogue not found" in failed(capsys, [str(path)])
    path.write_text("default = [\n")
    assert "not valid TOML" in failed(capsys, [str(path)])
    inline = f'artifacts = [{{file = "{A_20_1}", sha256 = "{"ab" * 32}"}}]\n'
    path.write_text(CATALOG_HEAD.replace("# Runtimes of the ACME mirror.\n", inline))
    err = failed(capsys, ["--base-url", "http://127.0.0.1:9", str(path)])
    assert "Cannot edit the pins" in err and "one-line" in err
    path.write_text(CATALOG_HEAD)
    assert "Invalid --base-url: 'ftp://mirror'" in failed(capsys, ["--base-url", "ftp://mirror", str(path)])
    err = failed(capsys, ["--stack", "scalingo-20", "--arch", "arm64", str(path)])
    assert "No archive selected" in err and "scalingo-20 amd64" in err
    assert path.read_text() == CATALOG_HEAD


def test_crlf_file_without_final_newline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ALL:
        tiny_archive(mirror / name, name)
    path = tmp_path / "catalog.toml"
    original = CATALOG_HEAD.replace('pins = "pending"  # until the release machine runs\n', "").rstrip("\n")
    path.write_bytes(original.replace("\n", "\r\n").encode())
    with serve(mirror) as url:
        assert pin_command.main(["--base-url", url, str(path)]) == 0
    capsys.readouterr()
    data = path.read_bytes()
    assert data.startswith(original.replace("\n", "\r\n").encode() + b"\r\n\r\n[[artifacts]]\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    catalog = load_catalog({CATALOG_SETTING: str(path)})
    assert {a.file: a.sha256 for a in catalog.artifacts} == {name: file_sha256(mirror / name) for name in ALL}


def test_help_names_the_command() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "usage: python -m python_buildpack.runtime.pin" in proc.stdout and "--accept-changed" in proc.stdout


def test_the_former_command_is_an_alias(tmp_path: Path, mirror_dir: Path) -> None:
    """`python -m python_buildpack.catalog pin` (the name before runtime/) still pins, and only `pin`."""
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG_HEAD)
    with serve(mirror_dir) as url:
        proc = run_cli("pin", "--base-url", url, "--stack", "scalingo-22", str(path), module="python_buildpack.catalog")
    assert proc.returncode == 0, proc.stderr
    assert load_catalog({CATALOG_SETTING: str(path)}).sha256_for(A_22_AMD)
    usage = run_cli("--help", module="python_buildpack.catalog")
    assert "usage: python -m python_buildpack.catalog" in usage.stdout and "pin" in usage.stdout
