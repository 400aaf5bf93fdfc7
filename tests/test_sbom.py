"""Layer SBOMs: valid CycloneDX (official JSON schema, via cyclonedx-python-lib), listing what
`importlib.metadata` finds in the same directories, with the purls packageurl-python builds.

The oracles are independent of the code under test: importlib.metadata run by the
interpreter that owns the environment, and the purl reference implementation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from support.builds import BUILDPACK_DIR

from python_buildpack import sbom
from python_buildpack.cnb import toml_io
from python_buildpack.stack import Stack

PYENV = Path("/root/.pyenv/versions")
PYTHON_311 = PYENV / "3.11.7" / "bin" / "python3"
INTERPRETERS = sorted(PYENV.glob("3.1[0-9].*/bin/python3"))
STACK = Stack(name="scalingo-24", ubuntu_version="24.04", arch="amd64", source="test")

# Run by the interpreter that owns the environment: what Python itself sees as installed.
ORACLE = """
import importlib.metadata as m, json, sys
dists = m.distributions(path=sys.argv[1:]) if sys.argv[1:] else m.distributions()
print(json.dumps([
    {"name": d.metadata["Name"], "version": d.version, "license": d.metadata["License"],
     "license_expression": d.metadata["License-Expression"], "classifiers": d.metadata.get_all("Classifier") or []}
    for d in dists
]))
"""


def installed(python: Path, *paths: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([str(python), "-I", "-c", ORACLE, *map(str, paths)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    dists: list[dict[str, Any]] = json.loads(proc.stdout)
    return dists


def validate(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    validator = JsonStrictValidator(SchemaVersion.from_version(sbom.SPEC_VERSION))
    error = validator.validate_str(text)
    assert error is None, f"{path.name} is not valid CycloneDX {sbom.SPEC_VERSION}: {getattr(error, 'data', error)}"
    document: dict[str, Any] = json.loads(text)
    return document


def pypi_purl(name: str, version: str) -> str:
    return PackageURL(type="pypi", name=name, version=version).to_string()


def listed(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(c["name"], c["version"], c["purl"]) for c in document["components"] if c["purl"].startswith("pkg:pypi/")}


def expected(dists: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(d["name"], d["version"], pypi_purl(d["name"], d["version"])) for d in dists}


# --- venv SBOM on a real virtual environment -------------------------------------------------

LOCAL_PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "Local_Thing.Helpers"
version = "1.2.3+local.7"
license = {text = "MIT"}
classifiers = ["License :: OSI Approved :: MIT License", "Programming Language :: Python :: 3"]
"""


@pytest.fixture(scope="module")
def real_venv(tmp_path_factory: pytest.TempPathFactory, shared_download_cache: dict[str, str]) -> Path:
    root = tmp_path_factory.mktemp("sbom-venv")
    venv = root / "layers" / "venv"
    subprocess.run([str(PYTHON_311), "-m", "venv", str(venv)], check=True)
    local = root / "local-thing"
    (local / "local_thing").mkdir(parents=True)
    (local / "local_thing" / "__init__.py").write_text("")
    (local / "pyproject.toml").write_text(LOCAL_PYPROJECT)
    env = {**os.environ, **shared_download_cache, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "six==1.16.0", "idna==3.7", "typing_extensions==4.12.2", "wheel"], check=True, env=env)
    # The venv's own setuptools (+ wheel, which setuptools < 70 needs for editables) builds it.
    subprocess.run([*pip, "--no-build-isolation", "-e", str(local)], check=True, env=env)
    return venv


@pytest.mark.e2e
def test_venv_sbom_lists_what_importlib_metadata_sees(real_venv: Path) -> None:
    layers = real_venv.parent
    path = sbom.write_venv_sbom(layers, "venv", real_venv, buildpack_dir=BUILDPACK_DIR)

    assert path == layers / "venv.sbom.cdx.json"
    document = validate(path)
    truth = installed(real_venv / "bin" / "python")
    assert {d["name"] for d in truth} >= {"six", "idna", "typing_extensions", "pip", "setuptools"}
    assert listed(document) == expected(truth)
    assert len(document["components"]) == len(truth)
    purls = [c["purl"] for c in document["components"]]
    assert purls == sorted(purls)
    assert all(c["bom-ref"] == c["purl"] for c in document["components"])


@pytest.mark.e2e
def test_venv_sbom_normalises_names_and_encodes_versions_like_the_purl_reference(real_venv: Path) -> None:
    document = validate(sbom.write_venv_sbom(real_venv.parent, "venv", real_venv))
    local = next(c for c in document["components"] if c["name"].lower().startswith("local"))
    truth = next(d for d in installed(real_venv / "bin" / "python") if d["name"] == local["name"])

    assert local["version"] == truth["version"] and "+" in local["version"]
    assert local["purl"] == pypi_purl(truth["name"], truth["version"])
    assert "%2B" in local["purl"] and "_" not in local["purl"]
    assert local["licenses"] == [{"license": {"name": "OSI Approved :: MIT License"}}]
    typing_ext = next(c for c in document["components"] if c["name"] == "typing_extensions")
    assert typing_ext["purl"] == "pkg:pypi/typing-extensions@4.12.2"


@pytest.mark.e2e
def test_venv_sbom_is_byte_identical_across_builds_and_locations(real_venv: Path, tmp_path: Path) -> None:
    first = sbom.write_venv_sbom(real_venv.parent, "venv", real_venv, buildpack_dir=BUILDPACK_DIR).read_bytes()
    again = sbom.write_venv_sbom(real_venv.parent, "venv", real_venv, buildpack_dir=BUILDPACK_DIR).read_bytes()
    # The same packages elsewhere (another build's layers dir) describe the same content.
    moved = tmp_path / "layers" / "venv"
    shutil.copytree(real_venv, moved, symlinks=True)
    elsewhere = sbom.write_venv_sbom(moved.parent, "venv", moved, buildpack_dir=BUILDPACK_DIR).read_bytes()

    assert first == again == elsewhere
    assert str(real_venv).encode() not in first
    document = json.loads(first)
    assert "serialNumber" not in document and "timestamp" not in document["metadata"]


# --- runtime SBOM ----------------------------------------------------------------------------


def runtime_layer(tmp_path: Path, prefix: Path) -> Path:
    """A layers dir whose `python` layer is an interpreter's install prefix."""
    layers = tmp_path / "layers"
    layers.mkdir()
    (layers / "python").symlink_to(prefix, target_is_directory=True)
    return layers


@pytest.mark.parametrize("python", INTERPRETERS, ids=lambda p: p.parts[-3])
def test_runtime_sbom_of_real_interpreter_prefixes(tmp_path: Path, python: Path) -> None:
    prefix = python.parents[1]
    version = prefix.name
    major = ".".join(version.split(".")[:2])
    layers = runtime_layer(tmp_path, prefix)

    document = validate(sbom.write_runtime_sbom(layers, "python", version, STACK, buildpack_dir=BUILDPACK_DIR))

    runtime = document["components"][0]
    assert (runtime["name"], runtime["version"], runtime["type"]) == ("python", version, "platform")
    assert runtime["purl"] == PackageURL(type="generic", name="python", version=version).to_string()
    assert runtime["cpe"] == f"cpe:2.3:a:python:python:{version}:*:*:*:*:*:*:*"
    assert {p["name"]: p["value"] for p in runtime["properties"]} == {
        "scalingo:stack": STACK.name,
        "scalingo:ubuntu-version": STACK.ubuntu_version,
        "scalingo:arch": STACK.arch,
        "scalingo:archive": f"python-{version}-ubuntu-{STACK.ubuntu_version}-{STACK.arch}.tar.zst",
    }
    assert "hashes" not in runtime  # no archive digest given
    truth = installed(python, prefix / "lib" / f"python{major}" / "site-packages")
    assert "pip" in {d["name"] for d in truth}
    assert listed(document) == expected(truth)
    assert len(document["components"]) == len(truth) + 1


def test_runtime_sbom_on_an_archive_layout(tmp_path: Path) -> None:
    """The layout of a runtime archive: bin/python3, lib/python3.X/site-packages with pip."""
    real_site = PYENV / "3.12.1" / "lib" / "python3.12" / "site-packages"
    prefix = tmp_path / "python"
    (prefix / "bin").mkdir(parents=True)
    shutil.copy2(PYENV / "3.12.1" / "bin" / "python3.12", prefix / "bin" / "python3")
    site = prefix / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    for dist_info in real_site.glob("*.dist-info"):
        shutil.copytree(dist_info, site / dist_info.name)

    document = validate(sbom.write_runtime_sbom(tmp_path, "python", "3.12.1", STACK))

    assert document["components"][0]["purl"] == "pkg:generic/python@3.12.1"
    assert listed(document) == expected(installed(PYENV / "3.12.1" / "bin" / "python3", site))
    assert any(c["name"] == "pip" for c in document["components"])
    # Without a buildpack dir the tool is still named, only without a version.
    assert document["metadata"]["tools"]["components"] == [{"type": "application", "name": "scalingo/python"}]


def test_runtime_sbom_without_site_packages_lists_the_interpreter(tmp_path: Path) -> None:
    (tmp_path / "python" / "bin").mkdir(parents=True)
    document = validate(sbom.write_runtime_sbom(tmp_path, "python", "3.13.0rc2", STACK))

    assert [(c["name"], c["version"]) for c in document["components"]] == [("python", "3.13.0rc2")]
    # A pre-release would need CPE's `update` field: no CPE rather than a wrong one.
    assert "cpe" not in document["components"][0]


def test_runtime_component_carries_the_archive_sha256(tmp_path: Path) -> None:
    (tmp_path / "python" / "bin").mkdir(parents=True)
    digest = "0123456789abcdef" * 4
    document = validate(sbom.write_runtime_sbom(tmp_path, "python", "3.12.1", STACK, archive_sha256=digest))
    runtime = document["components"][0]
    assert runtime["hashes"] == [{"alg": "SHA-256", "content": digest}]
    archive = {p["name"]: p["value"] for p in runtime["properties"]}["scalingo:archive"]
    assert archive == f"python-3.12.1-ubuntu-{STACK.ubuntu_version}-{STACK.arch}.tar.zst"


def test_buildpack_version_comes_from_buildpack_toml(tmp_path: Path) -> None:
    (tmp_path / "python").mkdir()
    document = validate(sbom.write_runtime_sbom(tmp_path, "python", "3.12.1", STACK, buildpack_dir=BUILDPACK_DIR))
    declared = toml_io.load(BUILDPACK_DIR / "buildpack.toml")["buildpack"]
    assert document["metadata"]["tools"]["components"] == [
        {"type": "application", "name": declared["id"], "version": declared["version"]}
    ]
    assert sbom.MEDIA_TYPE in declared["sbom-formats"]


# --- metadata edge cases, checked against importlib.metadata reading the same files -----------


def dist_info(site: Path, dirname: str, metadata: str | None) -> Path:
    path = site / dirname
    path.mkdir(parents=True)
    if metadata is not None:
        (path / "METADATA").write_text(textwrap.dedent(metadata).lstrip())
    return path


def test_metadata_variants(tmp_path: Path) -> None:
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    dist_info(
        site,
        "Zope.Interface-6.0.dist-info",
        """
        Metadata-Version: 2.1
        Name: zope.interface
        Version: 6.0
        License: ZPL 2.1
        Classifier: License :: OSI Approved :: Zope Public License

        A long description with
        Name: not-a-header
    """,
    )
    dist_info(
        site,
        "modern_pkg-2.0.dist-info",
        """
        Metadata-Version: 2.4
        Name: Modern_Pkg
        Version: 2.0
        License-Expression: Apache-2.0 OR MIT
        License-File: LICENSE
    """,
    )
    dist_info(
        site,
        "long_license-1.0.dist-info",
        """
        Metadata-Version: 2.1
        Name: long-license
        Version: 1.0
        License: Copyright (c) someone
                All rights reserved.
                Redistribution and use in source and binary forms...
    """,
    )
    (site / "old_style-0.9-py3.11.egg-info").write_text("Metadata-Version: 1.1\nName: old-style\nVersion: 0.9\n")
    (site / "not-a-dist.txt").write_text("ignored")

    document = validate(sbom.write_venv_sbom(tmp_path, "venv", tmp_path / "venv"))

    truth = installed(PYTHON_311, site)
    assert len(truth) == 4
    assert listed(document) == expected(truth)
    by_name = {c["name"]: c for c in document["components"]}
    assert by_name["zope.interface"]["purl"] == "pkg:pypi/zope.interface@6.0"
    assert by_name["zope.interface"]["licenses"] == [{"license": {"name": "OSI Approved :: Zope Public License"}}]
    assert by_name["Modern_Pkg"]["licenses"] == [{"expression": "Apache-2.0 OR MIT"}]
    assert "licenses" not in by_name["long-license"]  # a license text is not a license name
    assert "licenses" not in by_name["old-style"]


def test_damaged_metadata_falls_back_to_the_directory_name(tmp_path: Path) -> None:
    site = tmp_path / "venv" / "lib" / "python3.12" / "site-packages"
    dist_info(site, "half_installed-3.1.dist-info", None)
    dist_info(site, "empty-1.0.dist-info", "")

    document = validate(sbom.write_venv_sbom(tmp_path, "venv", tmp_path / "venv"))

    assert [(c["name"], c["version"], c["purl"]) for c in document["components"]] == [
        ("empty", "1.0", pypi_purl("empty", "1.0")),
        ("half_installed", "3.1", pypi_purl("half_installed", "3.1")),
    ]


def test_empty_venv_gives_a_valid_empty_sbom(tmp_path: Path) -> None:
    (tmp_path / "venv" / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
    document = validate(sbom.write_venv_sbom(tmp_path, "venv", tmp_path / "venv"))
    assert document["components"] == []


# --- writing over a restored SBOM -------------------------------------------------------------


def test_rewrite_replaces_a_restored_file_without_touching_its_hard_links(tmp_path: Path) -> None:
    (tmp_path / "python").mkdir()
    cache_copy = tmp_path / "cache-copy.json"
    cache_copy.write_text('{"stale": true}')
    os.link(cache_copy, tmp_path / "python.sbom.cdx.json")  # as a lifecycle may restore it

    path = sbom.write_runtime_sbom(tmp_path, "python", "3.12.1", STACK)

    assert cache_copy.read_text() == '{"stale": true}'
    assert validate(path)["components"][0]["version"] == "3.12.1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache-copy.json", "python", "python.sbom.cdx.json"]


def test_unchanged_sbom_is_left_in_place(tmp_path: Path) -> None:
    (tmp_path / "python").mkdir()
    first = sbom.write_runtime_sbom(tmp_path, "python", "3.12.1", STACK)
    inode = first.stat().st_ino
    second = sbom.write_runtime_sbom(tmp_path, "python", "3.12.1", STACK)
    assert second.stat().st_ino == inode
    changed = sbom.write_runtime_sbom(tmp_path, "python", "3.12.2", STACK)
    assert validate(changed)["components"][0]["version"] == "3.12.2"
