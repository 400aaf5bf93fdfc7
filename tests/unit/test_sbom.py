"""Layer SBOMs: valid CycloneDX (official JSON schema, via cyclonedx-python-lib), listing what
`importlib.metadata` finds in the same directories, with the purls packageurl-python builds.

The oracles are independent of the code under test: importlib.metadata run by the
interpreter that owns the environment, and the purl reference implementation.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
from packageurl import PackageURL
from support.artifact import local_interpreters
from support.builds import BUILDPACK_DIR
from support.sbom_oracle import expected, installed, listed, pypi_purl, validate

from python_buildpack.cnb import toml_io
from python_buildpack.layers import sbom
from python_buildpack.stacks.identify import Stack
from python_buildpack.stacks.table import archive_name

INTERPRETERS = [exe for major, exe in local_interpreters().items() if int(major.split(".")[1]) >= 10]
PYTHON_312 = local_interpreters()["3.12"]  # the newest local 3.12
PY312_PREFIX = PYTHON_312.parents[1]
PY312_VERSION = PY312_PREFIX.name
STACK = Stack(name="scalingo-24", ubuntu_version="24.04", arch="amd64", source="test")













# --- venv SBOM on a real virtual environment -------------------------------------------------

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
        "scalingo:archive": archive_name(version, STACK.ubuntu_version, STACK.arch),
    }
    assert "hashes" not in runtime  # no archive digest given
    truth = installed(python, prefix / "lib" / f"python{major}" / "site-packages")
    assert "pip" in {d["name"] for d in truth}
    assert listed(document) == expected(truth)
    assert len(document["components"]) == len(truth) + 1


def test_runtime_sbom_on_an_archive_layout(tmp_path: Path) -> None:
    """The layout of a runtime archive: bin/python3, lib/python3.X/site-packages with pip."""
    real_site = PY312_PREFIX / "lib" / "python3.12" / "site-packages"
    prefix = tmp_path / "python"
    (prefix / "bin").mkdir(parents=True)
    shutil.copy2(PY312_PREFIX / "bin" / "python3.12", prefix / "bin" / "python3")
    site = prefix / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    for dist_info in real_site.glob("*.dist-info"):
        shutil.copytree(dist_info, site / dist_info.name)

    document = validate(sbom.write_runtime_sbom(tmp_path, "python", PY312_VERSION, STACK))

    assert document["components"][0]["purl"] == f"pkg:generic/python@{PY312_VERSION}"
    assert listed(document) == expected(installed(PYTHON_312, site))
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
    assert archive == archive_name("3.12.1", STACK.ubuntu_version, STACK.arch)


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

    truth = installed(PYTHON_312, site)
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

    path = sbom.write_runtime_sbom(tmp_path, "python", PY312_VERSION, STACK)

    assert cache_copy.read_text() == '{"stale": true}'
    assert validate(path)["components"][0]["version"] == "3.12.1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache-copy.json", "python", "python.sbom.cdx.json"]


def test_unchanged_sbom_is_left_in_place(tmp_path: Path) -> None:
    (tmp_path / "python").mkdir()
    first = sbom.write_runtime_sbom(tmp_path, "python", PY312_VERSION, STACK)
    inode = first.stat().st_ino
    second = sbom.write_runtime_sbom(tmp_path, "python", PY312_VERSION, STACK)
    assert second.stat().st_ino == inode
    changed = sbom.write_runtime_sbom(tmp_path, "python", "3.12.2", STACK)
    assert validate(changed)["components"][0]["version"] == "3.12.2"
