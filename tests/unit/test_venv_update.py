"""In-place venv updates: the copy-aside rollback of the venv layer and the target-set helpers
of pip's and uv's updates.

The real updates are in tests/e2e (test_dependencies.py with pip, test_uv_update.py with uv);
these pin the failure paths, which real installs rarely reach.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from python_buildpack.caching import packed
from python_buildpack.caching.on_demand import OnDemand
from python_buildpack.caching.plan import CachePlan
from python_buildpack.cnb import toml_io
from python_buildpack.cnb.layers import Changed, Empty, Unreadable
from python_buildpack.cnb.models import LayerTypes
from python_buildpack.files import trees
from python_buildpack.layers import venv as venv_layer
from python_buildpack.layers.tools import ToolInstall
from python_buildpack.layers.venv import PREVIOUS, VenvMetadata
from python_buildpack.package_managers import pip_freeze, pip_update, uv_update
from python_buildpack.package_managers.pip import Pip
from python_buildpack.process import Completed

METADATA = VenvMetadata(
    python_version="3.12.1",
    stack="scalingo-22",
    arch="amd64",
    package_manager="pip",
    package_manager_version="26.3",
    app_dir="/workspace",
    inputs={"requirements.txt": "a" * 64},
)
CHANGED = METADATA.model_copy(update={"inputs": {"requirements.txt": "b" * 64}})


def restored_venv(tmp_path: Path) -> Path:
    """A venv layer as restored from the cache, with METADATA."""
    path = tmp_path / "venv"
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").write_text("python")
    (path / "old").write_text("previous")
    toml_io.dump({"metadata": METADATA.model_dump()}, tmp_path / "venv.toml")
    return path


def changed(tmp_path: Path) -> Empty[VenvMetadata]:
    opened = venv_layer.open_venv(tmp_path, CHANGED, CachePlan())
    assert isinstance(opened, Empty)
    return opened


def test_only_changed_dependency_files_allow_an_update(tmp_path: Path) -> None:
    restored_venv(tmp_path)
    assert venv_layer.can_update(changed(tmp_path))
    layer = changed(tmp_path).layer
    other_python = CHANGED.model_copy(update={"python_version": "3.12.2"})
    types = LayerTypes(build=True, launch=True, cache=True)
    assert not venv_layer.can_update(Empty(layer, types, other_python, Changed(METADATA, ("the Python version",))))
    assert not venv_layer.can_update(Empty(layer, types, CHANGED, Unreadable("its metadata file could not be read")))


def test_a_verified_update_keeps_the_new_files_and_metadata(tmp_path: Path) -> None:
    path = restored_venv(tmp_path)

    def update(venv: Path) -> bool:
        # The copy aside is the same files, hard-linked.
        assert (tmp_path / PREVIOUS / "old").stat().st_ino == (venv / "old").stat().st_ino
        (venv / "old").unlink()
        (venv / "new").write_text("updated")
        return True

    assert venv_layer.update(changed(tmp_path), update)
    assert (path / "new").is_file() and not (path / "old").exists()
    trees.wait()  # the copy aside is deleted while the build goes on, and gone when it ends
    assert not (tmp_path / PREVIOUS).exists()
    assert "b" * 64 in (tmp_path / "venv.toml").read_text()


@pytest.mark.parametrize("outcome", ["unverified", "error"])
def test_a_failed_update_puts_the_previous_venv_back(tmp_path: Path, outcome: str) -> None:
    path = restored_venv(tmp_path)
    toml_before = (tmp_path / "venv.toml").read_bytes()

    def update(venv: Path) -> bool:
        (venv / "old").unlink()
        (venv / "new").write_text("half done")
        if outcome == "error":
            raise RuntimeError("pip failed")
        return False

    if outcome == "error":
        with pytest.raises(RuntimeError):
            venv_layer.update(changed(tmp_path), update)
    else:
        assert not venv_layer.update(changed(tmp_path), update)
    assert (path / "old").read_text() == "previous"
    assert not (path / "new").exists()
    assert (tmp_path / "venv.toml").read_bytes() == toml_before
    assert not (tmp_path / PREVIOUS).exists()


def test_report_gives_the_target_set_and_direct_references(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {
                "install": [
                    {"metadata": {"name": "Flask", "version": "3.1.3"}, "is_direct": False},
                    {"metadata": {"name": "zope.interface", "version": "7.0"}, "is_direct": False},
                    {"metadata": {"name": "local_pkg", "version": "1.0"}, "is_direct": True},
                ]
            }
        )
    )
    target, direct = pip_update.read_report(report)
    assert target == {"flask": "3.1.3", "zope-interface": "7.0", "local-pkg": "1.0"}
    assert direct == ["local-pkg"]


def test_installed_and_compare(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.12" / "site-packages"
    for name, version in (("Flask", "3.1.3"), ("Jinja2", "3.1.6"), ("pip", "26.3"), ("app", "0.1.0")):
        dist = site / f"{name}-{version}.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n")
    (site / "Jinja2-3.1.6.dist-info" / "direct_url.json").write_text('{"url": "https://example.com/j.tar.gz"}')
    (site / "app-0.1.0.dist-info" / "direct_url.json").write_text('{"url": "file:///workspace", "dir_info": {}}')
    assert pip_update.installed(tmp_path, local=False) == {"flask": "3.1.3", "jinja2": "3.1.6", "pip": "26.3"}
    actual = pip_update.installed(tmp_path)
    assert actual == {"flask": "3.1.3", "jinja2": "3.1.6", "pip": "26.3", "app": "0.1.0"}
    del actual["app"]
    assert pip_update.compare(actual, actual) == []
    target = {"flask": "3.1.2", "pip": "26.3", "gunicorn": "23.0.0"}
    assert pip_update.compare(target, actual) == ["gunicorn missing", "jinja2 not required", "flask 3.1.3 instead of 3.1.2"]


def test_direct_references_are_found_before_any_install(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "flask==3.1.3  # a comment\n--index-url https://example.com/simple\n-c constraints.txt\n"
        "-e ./localpkg\nlib @ https://example.com/lib-1.0.tar.gz\n./wheels/x-1.0-py3-none-any.whl\n"
        "git+https://example.com/repo.git#egg=repo\nrequests>=2 ; python_version >= '3.8'\n"
    )
    assert pip_update._direct_lines(requirements) == [
        "-e ./localpkg",
        "lib @ https://example.com/lib-1.0.tar.gz",
        "./wheels/x-1.0-py3-none-any.whl",
        "git+https://example.com/repo.git#egg=repo",
    ]


def test_uv_target_sets_evaluate_markers_for_the_runtime_python(tmp_path: Path) -> None:
    exported = tmp_path / "target.txt"
    exported.write_text(
        "Flask==3.1.3\nzope.interface==7.0\ncolorama==0.4.6 ; sys_platform == 'win32'\n"
        "tomli==2.2.1 ; python_full_version < '3.11'\nexceptiongroup==1.3.0 ; python_version < '3.12'\n"
        "gitpkg @ git+https://example.com/gitpkg@0123abcd\n-e ./localpkg\n--index-url https://example.com/simple\n"
    )
    pins, direct = uv_update.read_pins(exported, "3.11.7")
    assert pins == {"flask": "3.1.3", "zope-interface": "7.0", "exceptiongroup": "1.3.0"}
    assert direct == ["gitpkg", "-e ./localpkg"]
    assert "exceptiongroup" not in uv_update.read_pins(exported, "3.12.1")[0]


def test_uv_updates_drop_the_byte_code_of_what_changes(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.12" / "site-packages"
    for name, modules in (("six", ["six.py"]), ("flask", ["flask/__init__.py", "flask/app.py"])):
        dist = site / f"{name}-1.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "RECORD").write_text("".join(f"{module},sha256=x,1\n" for module in modules) + f"{dist.name}/RECORD,,\n")
        for module in modules:
            pyc = (site / module).parent / "__pycache__" / f"{Path(module).stem}.cpython-312.pyc"
            pyc.parent.mkdir(parents=True, exist_ok=True)
            pyc.write_bytes(b"")
    uv_update.drop_bytecode(tmp_path, {"six"})
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*.pyc")) == [
        "flask/__pycache__/__init__.cpython-312.pyc", "flask/__pycache__/app.cpython-312.pyc",
    ]  # fmt: skip


def _dist(site: Path, name: str, version: str, *requires: str) -> None:
    dist = site / f"{name}-{version}.dist-info"
    dist.mkdir(parents=True)
    lines = "".join(f"Requires-Dist: {line}\n" for line in requires)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{lines}\nbody\n")


def test_the_packed_copy_records_what_each_distribution_requires(tmp_path: Path) -> None:
    path = restored_venv(tmp_path)
    site = path / "lib" / "python3.12" / "site-packages"
    _dist(site, "Flask", "3.1.3", "click>=8.1.3", "asgiref>=3.2 ; extra == 'async'")
    _dist(site, "click", "8.5.1")
    venv = venv_layer.Venv(OnDemand.present(venv_layer.LAYER.layer(tmp_path)), METADATA)
    venv_layer.finish(tmp_path, venv, CachePlan(), "single")
    expected = {"flask": ["click>=8.1.3", "asgiref>=3.2 ; extra == 'async'"], "click": []}
    assert venv_layer.recorded_requirements(changed(tmp_path)) == expected

    # What the record tells before the venv's files are there: the pins' closure.
    pins = {"flask": ("3.1.3", frozenset[str]()), "click": ("8.5.1", frozenset[str]())}
    assert pip_freeze.closed(expected, pins, "3.12.1")
    assert not pip_freeze.closed(expected, {"flask": pins["flask"]}, "3.12.1")
    assert not pip_freeze.closed(expected, {**pins, "flask": ("3.1.3", frozenset({"async"}))}, "3.12.1")

    # A damaged record is no record: the update checks the venv's files instead.
    record = packed.extra_file(venv_layer.LAYER, tmp_path, METADATA, venv_layer.REQUIRES)
    assert record is not None
    record.write_text('{"flask": "click"}')
    assert venv_layer.recorded_requirements(changed(tmp_path)) is None
    record.write_text("{")
    assert venv_layer.recorded_requirements(changed(tmp_path)) is None
    record.unlink()
    assert venv_layer.recorded_requirements(changed(tmp_path)) is None


def _resolving(tmp_path: Path, requirements: str, recorded: dict[str, list[str]] | None) -> list[list[str]]:
    """The side resolutions that `pip_update.resolving` starts on entering, with no venv on disk."""
    app = tmp_path / "app"
    app.mkdir(parents=True)
    (app / "requirements.txt").write_text(requirements)
    runtime_python = tmp_path / "runtime" / "bin" / "python3"
    started: list[list[str]] = []

    def run_resolve(command: list[str | Path], echo: bool = True) -> Completed:
        assert echo is False
        started.append([str(part) for part in command])
        return Completed(0, [])

    def run_in_venv(command: list[str | Path], echo: bool = True) -> Completed:
        raise AssertionError("nothing runs in the venv before the update")

    tool = ToolInstall("pip", Pip().version, tmp_path / "pip")
    with pip_update.resolving(Pip(), tool, tmp_path / "venv", app, run_in_venv, "3.12.1",
                              python=runtime_python, run_resolve=run_resolve, recorded=recorded) as resolution:  # fmt: skip
        assert resolution is not None
        assert resolution.check_closed is (recorded is None)
    assert not (tmp_path / "venv").exists()
    return started


def test_the_side_resolution_starts_before_the_venv_is_unpacked(tmp_path: Path) -> None:
    record = {"flask": ["click>=8.1.3"], "click": []}
    # Top-level pins only: not closed, as the record tells; resolved by the runtime's interpreter.
    [command] = _resolving(tmp_path / "top", "flask==3.1.3\n", record)
    assert command[:2] == [str(tmp_path / "top" / "runtime" / "bin" / "python3"), "-s"]
    assert {"install", "--dry-run", "--ignore-installed", "--report"} <= set(command)
    # A frozen file the record shows closed, and one with no record (the venv is checked later):
    # nothing is resolved yet.
    assert _resolving(tmp_path / "frozen", "flask==3.1.3\nclick==8.5.1\n", record) == []
    assert _resolving(tmp_path / "unknown", "flask==3.1.3\n", None) == []
    # Loose requirements are resolved whatever the record says.
    assert len(_resolving(tmp_path / "loose", "flask>=3\n", None)) == 1
