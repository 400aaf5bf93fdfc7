"""What a venv depends on (the files whose change rebuilds it), and how changes are explained."""

from __future__ import annotations

from pathlib import Path

from python_buildpack.app.digests import file_digest
from python_buildpack.layers.venv import VenvMetadata
from python_buildpack.package_managers.pip import Pip
from python_buildpack.package_managers.pipenv import Pipenv
from python_buildpack.package_managers.poetry import Poetry
from python_buildpack.package_managers.uv import Uv


def write(root: Path, name: str, content: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def test_requirements_and_the_files_they_include(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "-r requirements/base.txt\n--constraint=constraints.txt\nflask==3.1.3\n")
    write(tmp_path, "requirements/base.txt", "-r common.txt  # relative to this file\ngunicorn\n")
    write(tmp_path, "requirements/common.txt", "-r ../requirements.txt\n")  # a cycle is fine
    write(tmp_path, "constraints.txt", "click<9\n")
    inputs = Pip().inputs(tmp_path)
    assert set(inputs) == {
        "requirements.txt",
        "requirements/base.txt",
        "requirements/common.txt",
        "constraints.txt",
    }
    assert inputs["constraints.txt"] == file_digest(tmp_path / "constraints.txt")


def test_local_packages(tmp_path: Path) -> None:
    write(
        tmp_path,
        "requirements.txt",
        "-e ./editable  # only its build files matter, its code is live\n"
        "./vendored\n"
        "wheels/tool-1.0-py3-none-any.whl\n"
        "pkg @ file://" + str(tmp_path / "other") + "\n"
        "--find-links ./links\n"
        "requests[socks]==2.32.0 ; python_version >= '3.8' \\\n"
        "    --hash=sha256:abc\n"
        "-e git+https://example.com/repo.git#egg=remote\n"
        "https://example.com/pkg-1.0.tar.gz\n",
    )
    write(tmp_path, "editable/pyproject.toml", "[project]\nname='editable'\n")
    write(tmp_path, "editable/editable/__init__.py", "")
    write(tmp_path, "vendored/setup.py", "")
    write(tmp_path, "vendored/vendored/__init__.py", "X = 1\n")
    write(tmp_path, "wheels/tool-1.0-py3-none-any.whl", "zip")
    write(tmp_path, "other/pyproject.toml", "")
    write(tmp_path, "links/a-1.0.tar.gz", "tar")
    inputs = Pip().inputs(tmp_path)
    assert set(inputs) == {
        "requirements.txt",
        "editable/pyproject.toml",
        "vendored/",
        "wheels/tool-1.0-py3-none-any.whl",
        "other/",
        "links/",
    }
    before = dict(inputs)
    write(tmp_path, "editable/editable/__init__.py", "CHANGED = True\n")  # live through the .pth
    write(tmp_path, "vendored/vendored/__init__.py", "X = 2\n")  # copied at install: must rebuild
    after = Pip().inputs(tmp_path)
    assert after["editable/pyproject.toml"] == before["editable/pyproject.toml"]
    assert after["vendored/"] != before["vendored/"]


def test_missing_included_file_is_left_to_pip(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "-r missing.txt\n")
    assert set(Pip().inputs(tmp_path)) == {"requirements.txt"}


def test_lock_based_managers(tmp_path: Path) -> None:
    for name in ("Pipfile", "Pipfile.lock", "pyproject.toml", "poetry.lock", "uv.lock", "uv.toml"):
        write(tmp_path, name, f"# {name}\n")
    assert set(Pipenv().inputs(tmp_path)) == {"Pipfile", "Pipfile.lock"}
    assert set(Poetry().inputs(tmp_path)) == {"pyproject.toml", "poetry.lock"}
    assert set(Uv().inputs(tmp_path)) == {"pyproject.toml", "uv.lock", "uv.toml"}


def metadata(**changes: object) -> VenvMetadata:
    base: dict[str, object] = {
        "python_version": "3.12.7",
        "stack": "scalingo-22",
        "arch": "amd64",
        "package_manager": "pip",
        "package_manager_version": "26.3",
        "app_dir": "/workspace",
        "inputs": {"requirements.txt": "a", "constraints.txt": "b"},
    }
    return VenvMetadata.model_validate(base | changes)


def test_change_reasons_name_the_files() -> None:
    old = metadata()
    assert metadata().changes_from(old) == []
    new = metadata(inputs={"requirements.txt": "changed", "extra.txt": "c"})
    assert new.changes_from(old) == ["constraints.txt was removed", "extra.txt was added", "requirements.txt changed"]
    assert metadata(python_version="3.12.8", stack="scalingo-24").changes_from(old) == [
        "the Python version changed from 3.12.7 to 3.12.8",
        "the stack changed from scalingo-22 to scalingo-24",
    ]


def test_a_new_package_manager_does_not_list_every_file() -> None:
    new = metadata(package_manager="uv", package_manager_version="0.13.9", inputs={"uv.lock": "x"})
    assert new.changes_from(metadata()) == [
        "the package manager changed from pip to uv",
        "the package manager version changed from 26.3 to 0.13.9",
    ]
