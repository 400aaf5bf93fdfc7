"""Frozen requirements (package_managers/pip_freeze.py): which files pin everything, and the check
that the installed dependencies, followed from the pins, stay within them (real METADATA files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_buildpack.package_managers.pip_freeze import closed, frozen_pins

PY = "3.11.7"


def requirements(tmp_path: Path, text: str) -> list[Path]:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return [path]


def test_a_freeze_gives_its_pins_with_extras_and_markers_for_the_runtime(tmp_path: Path) -> None:
    files = requirements(tmp_path, (
        "# pip freeze\n--index-url https://example.invalid/simple\n"
        "Celery[redis]==5.6.3\nkombu==5.7.0  # pinned by celery\n"
        "tomli==2.2.1 ; python_version < '3.11'\nexceptiongroup==1.3.0; python_version >= '3.11'\n"
        "zope.interface==7.2 \\\n    ; sys_platform == 'linux'\n"
    ))  # fmt: skip
    assert frozen_pins(files, PY) == {
        "celery": ("5.6.3", frozenset({"redis"})),
        "kombu": ("5.7.0", frozenset()),
        "exceptiongroup": ("1.3.0", frozenset()),
        "zope-interface": ("7.2", frozenset()),
    }


@pytest.mark.parametrize("line", [
    "flask>=3", "flask==3.*", "flask", "-r other.txt", "--constraint c.txt", "-e .",
    "flask==3.1.3 --hash=sha256:" + "0" * 64, "flask @ https://example.invalid/flask.whl", "flask==3.1.3\nflask==3.1.2",
])  # fmt: skip
def test_anything_else_is_not_frozen(tmp_path: Path, line: str) -> None:
    assert frozen_pins(requirements(tmp_path, f"six==1.17.0\n{line}\n"), PY) is None


def dist(site: Path, name: str, version: str, *requires: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(lines) + "\n\nThe description.\n")


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    dist(site, "celery", "5.6.3", "kombu>=5.6", "redis>=4; extra == 'redis'", "pytest; extra == 'test'",
         "backports.zoneinfo; python_version < '3.9'")  # fmt: skip
    dist(site, "kombu", "5.7.0", "vine>=5")
    dist(site, "vine", "5.1.0")
    dist(site, "redis", "8.2.0", "async-timeout>=4; python_full_version < '3.11.3'")
    dist(site, "pip", "26.3")
    return venv


def test_closed_follows_extras_and_markers(venv: Path, tmp_path: Path) -> None:
    pins = frozen_pins(requirements(tmp_path, "celery[redis]==5.6.3\nkombu==5.7.0\nvine==5.1.0\nredis==8.2.0\n"), PY)
    assert pins is not None and closed(venv, pins, PY)
    # redis wants async-timeout on this runtime's patch release, which the file does not pin.
    assert not closed(venv, pins, "3.11.2")
    # Without the extra, redis is not needed, but still pinned: the pins stay the target set.
    assert closed(venv, {**pins, "celery": ("5.6.3", frozenset())}, PY)


def test_a_dependency_the_file_leaves_out_is_not_closed(venv: Path, tmp_path: Path) -> None:
    pins = frozen_pins(requirements(tmp_path, "celery[redis]==5.6.3\nkombu==5.7.0\nredis==8.2.0\n"), PY)
    assert pins is not None and not closed(venv, pins, PY)  # vine, kombu's dependency
