"""The release procedure of `python -m python_buildpack.runtime.pin` (every shipped archive, over
loopback) and its stop on an unreachable mirror (real retries): seconds each, so not unit tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.archives import tiny_archive
from support.catalogs import CATALOG_HEAD, run_cli

from python_buildpack.runtime import pin as pin_command
from python_buildpack.runtime.catalog import CATALOG_SETTING, SHIPPED_CATALOG, load_catalog
from python_buildpack_dev.runtime_mirror.archives import file_sha256
from python_buildpack_dev.runtime_mirror.server import serve


def test_the_shipped_catalogue_goes_through_the_release_procedure(tmp_path: Path) -> None:
    """Every archive the shipped catalogue lists, served over loopback (small stand-ins)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shipped = load_catalog({})
    for archive in shipped.archives():
        tiny_archive(mirror / archive.file, archive.file)
    path = tmp_path / "runtime-catalog.toml"
    shutil.copyfile(SHIPPED_CATALOG, path)
    with serve(mirror) as url:
        proc = run_cli("--base-url", url, str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pinned = load_catalog({CATALOG_SETTING: str(path)})
    assert pinned.pins is None and not pinned.unpinned()
    assert len(pinned.artifacts) == len(shipped.archives())
    assert pinned.sha256_for(shipped.archives()[0].file) == file_sha256(mirror / shipped.archives()[0].file)
    # Everything before the pins is the shipped text, minus the marker line.
    original = SHIPPED_CATALOG.read_text()
    marker = next(line for line in original.splitlines(keepends=True) if line.startswith("pins = "))
    assert path.read_text().startswith(original.replace(marker, ""))


def failed(capsys: pytest.CaptureFixture[str], args: list[str], status: int = 2) -> str:
    assert pin_command.main(args) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and "! Error:" in err
    return " ".join(line.removeprefix("!").strip() for line in err.splitlines())  # unwrapped


def test_an_unreachable_mirror_stops_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG_HEAD)
    err = failed(capsys, ["--base-url", "http://127.0.0.1:9", "--stack", "scalingo-22", str(path)], status=1)
    assert "could not connect" in err and "--new-only" in err
    assert path.read_text() == CATALOG_HEAD


