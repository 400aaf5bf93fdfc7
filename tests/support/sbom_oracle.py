"""Independent oracles for SBOM tests: importlib.metadata run by the interpreter that owns an
environment, the CycloneDX JSON schema, and purls built by packageurl-python."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from python_buildpack.layers import sbom

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
