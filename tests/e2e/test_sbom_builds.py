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
from pathlib import Path

import pytest
from support.artifact import local_interpreters
from support.builds import BUILDPACK_DIR
from support.sbom_oracle import expected, installed, listed, pypi_purl, validate

from python_buildpack.layers import sbom

PYTHON_311 = local_interpreters()["3.11"]  # the newest local 3.11












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


