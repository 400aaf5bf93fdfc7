"""CycloneDX SBOMs of the `python` and `venv` layers (`<layers>/<layer>.sbom.cdx.json`).

Written on every build, reused layers included: the lifecycle exports the file with the
layer and may have restored a stale one. Documents are CycloneDX 1.5 JSON built from plain
dicts (no SBOM library at run time: the buildpack must stay small to bootstrap), listing
distributions found by scanning `*.dist-info` metadata headers: no subprocess, no import of
the installed packages, milliseconds on a warm rebuild.

Identical inputs give identical bytes (CNB layers should be reproducible): no timestamp, no
random serial number (optional in CycloneDX), components sorted.

Package URLs follow the purl spec: `pkg:pypi/<name>@<version>` with the name lowercased and
`_` replaced by `-` (dots are kept, as the pypi purl type says); the CPython runtime is
`pkg:generic/python@<version>` with the NVD CPE `cpe:2.3:a:python:python:<version>`, as the
CPython release SBOMs and vulnerability scanners use. Its `hashes` hold the sha256 of the
runtime archive the layer was installed from (what the catalogue pins, or the build recorded),
so an image can be traced to the exact archive.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import BUILDPACK_ID
from ..cnb.descriptor import buildpack_version
from ..stacks.table import archive_name

if TYPE_CHECKING:
    from ..stacks.identify import Stack

SPEC_VERSION = "1.5"
MEDIA_TYPE = "application/vnd.cyclonedx+json"
EXTENSION = "cdx.json"


@dataclass(frozen=True)
class Distribution:
    """One installed distribution, as its metadata declares it."""

    name: str
    version: str
    license_expression: str = ""
    license_names: tuple[str, ...] = ()

    @property
    def purl(self) -> str:
        return pypi_purl(self.name, self.version)


def sbom_path(layers_dir: Path, layer_name: str) -> Path:
    return layers_dir / f"{layer_name}.sbom.{EXTENSION}"


def write_runtime_sbom(
    layers_dir: Path,
    layer_name: str,
    python_version: str,
    stack: Stack,
    *,
    buildpack_dir: Path | None = None,
    archive_sha256: str | None = None,
) -> Path:
    """The runtime layer's SBOM: CPython itself and the distributions in its site-packages."""
    distributions = _runtime_distributions(layers_dir / layer_name, python_version)
    python = _python_component(python_version, stack, archive_sha256)
    components = [python] + [_pypi_component(d) for d in distributions]
    return _write(sbom_path(layers_dir, layer_name), _document(components, buildpack_dir))


def write_venv_sbom(layers_dir: Path, layer_name: str, venv_dir: Path, *, buildpack_dir: Path | None = None,
                    extra_sites: Sequence[Path] = ()) -> Path:  # fmt: skip
    """The dependencies layer's SBOM: every distribution installed in the venv (`extra_sites`:
    the site directories it adds, when its distributions are in layers of their own)."""
    sites = [*_site_packages_dirs(venv_dir), *extra_sites]
    distributions = [d for site in sites for d in installed_distributions(site)]
    components = [_pypi_component(d) for d in _unique_sorted(distributions)]
    return _write(sbom_path(layers_dir, layer_name), _document(components, buildpack_dir))


def installed_distributions(site_packages: Path) -> list[Distribution]:
    """Distributions in one site-packages directory, sorted by purl."""
    try:
        entries = list(os.scandir(site_packages))
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.endswith(".dist-info") and entry.is_dir():
            dist = _read_distribution(Path(entry.path) / "METADATA", entry.name[: -len(".dist-info")])
        elif entry.name.endswith(".egg-info"):  # legacy installs: a directory with PKG-INFO, or the file itself
            metadata = Path(entry.path) / "PKG-INFO" if entry.is_dir() else Path(entry.path)
            dist = _read_distribution(metadata, entry.name[: -len(".egg-info")])
        else:
            continue
        if dist is not None:
            found.append(dist)
    return _unique_sorted(found)


def normalize_pypi_name(name: str) -> str:
    """The name as a pypi purl spells it: lowercase, `_` → `-` (purl-spec, pypi type)."""
    return name.lower().replace("_", "-")


def pypi_purl(name: str, version: str) -> str:
    return f"pkg:pypi/{_purl_quote(normalize_pypi_name(name))}@{_purl_quote(version)}"


def python_purl(version: str) -> str:
    return f"pkg:generic/python@{_purl_quote(version)}"


def _purl_quote(value: str) -> str:
    # Percent-encoding as the purl spec and its reference implementations do (`+` → %2B).
    return quote(value, safe=":")


# --- metadata scanning ---------------------------------------------------------------------

_WANTED = {"name", "version", "license", "license-expression", "classifier"}


def _read_distribution(metadata: Path, dir_stem: str) -> Distribution | None:
    headers = _read_headers(metadata)
    name = _first(headers, "name")
    version = _first(headers, "version")
    if not (name and version):
        # A damaged or empty METADATA: the directory name `<name>-<version>` still says what it is.
        stem_name, sep, stem_version = dir_stem.partition("-")
        if not sep:
            return None
        name, version = name or stem_name, version or stem_version.split("-")[0]
    license_names = tuple(
        value.removeprefix("License ::").strip()
        for value in headers.get("classifier", [])
        if value.startswith("License ::")
    )
    license_field = _first(headers, "license")
    if not license_names and license_field and "\n" not in license_field and len(license_field) <= 100:
        license_names = (license_field,)  # a short name ("MIT"); long values are whole license texts
    return Distribution(name, version, _first(headers, "license-expression"), license_names)


def _read_headers(path: Path) -> dict[str, list[str]]:
    """The RFC 822 header block of METADATA/PKG-INFO, without reading the long description."""
    headers: dict[str, list[str]] = {}
    key = ""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\r\n")
                if not line:
                    break
                if line[0] in " \t":  # continuation of the previous header
                    if key in headers:
                        headers[key][-1] += "\n" + line.strip()
                    continue
                field, sep, value = line.partition(":")
                key = field.strip().lower() if sep else ""
                if key in _WANTED:
                    headers.setdefault(key, []).append(value.strip())
    except OSError:
        return {}
    return headers


def _first(headers: dict[str, list[str]], key: str) -> str:
    values = headers.get(key)
    return values[0].strip() if values else ""


def _unique_sorted(distributions: list[Distribution]) -> list[Distribution]:
    by_purl = {d.purl: d for d in sorted(distributions, key=lambda d: (d.purl, d.name))}
    return [by_purl[purl] for purl in sorted(by_purl)]


def _site_packages_dirs(prefix: Path) -> list[Path]:
    # `lib/` only: `lib64` is a symlink to it in venvs and would list everything twice.
    return sorted(p for p in (prefix / "lib").glob("python3*/site-packages") if p.is_dir())


def _runtime_distributions(prefix: Path, python_version: str) -> list[Distribution]:
    major = ".".join(python_version.split(".")[:2])
    site = prefix / "lib" / f"python{major}" / "site-packages"
    sites = [site] if site.is_dir() else _site_packages_dirs(prefix)
    return _unique_sorted([d for s in sites for d in installed_distributions(s)])


# --- document ------------------------------------------------------------------------------

_NUMERIC_VERSION = re.compile(r"^\d+(\.\d+)*$")


def _python_component(version: str, stack: Stack, archive_sha256: str | None) -> dict[str, Any]:
    purl = python_purl(version)
    component: dict[str, Any] = {
        "type": "platform",  # CycloneDX: "a runtime environment which interprets or executes software"
        "bom-ref": purl,
        "supplier": {"name": "Python Software Foundation", "url": ["https://www.python.org"]},
        "name": "python",
        "version": version,
        "description": "CPython interpreter and standard library",
        "licenses": [{"license": {"id": "PSF-2.0"}}],
        "purl": purl,
        **({"hashes": [{"alg": "SHA-256", "content": archive_sha256}]} if archive_sha256 else {}),
        "externalReferences": [{"type": "website", "url": "https://www.python.org"}],
        "properties": [
            {"name": "scalingo:stack", "value": stack.name},
            {"name": "scalingo:ubuntu-version", "value": stack.ubuntu_version},
            {"name": "scalingo:arch", "value": stack.arch},
            {"name": "scalingo:archive", "value": archive_name(version, stack.ubuntu_version, stack.arch)},
        ],
    }
    if _NUMERIC_VERSION.match(version):  # a pre-release needs CPE's `update` field: better none than wrong
        component["cpe"] = f"cpe:2.3:a:python:python:{version}:*:*:*:*:*:*:*"
    return component


def _pypi_component(dist: Distribution) -> dict[str, Any]:
    purl = dist.purl
    component: dict[str, Any] = {"type": "library", "bom-ref": purl, "name": dist.name, "version": dist.version}
    if dist.license_expression:
        component["licenses"] = [{"expression": dist.license_expression}]
    elif dist.license_names:
        component["licenses"] = [{"license": {"name": name}} for name in sorted(set(dist.license_names))]
    component["purl"] = purl
    return component


def _document(components: list[dict[str, Any]], buildpack_dir: Path | None) -> dict[str, Any]:
    tool: dict[str, Any] = {"type": "application", "name": BUILDPACK_ID}
    version = buildpack_version(buildpack_dir) if buildpack_dir is not None else ""
    if version:
        tool["version"] = version
    return {
        "$schema": f"http://cyclonedx.org/schema/bom-{SPEC_VERSION}.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {"tools": {"components": [tool]}},
        "components": components,
    }


def _write(path: Path, document: dict[str, Any]) -> Path:
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        if path.read_bytes() == data:
            return path  # unchanged: leave the restored file alone
    except OSError:
        pass
    # A new file renamed over the old one: a restored file may be a hard link into the cache.
    # The temporary name has no `.sbom.`: a leftover must not look like an SBOM to the lifecycle.
    tmp = path.with_name(f".{path.name.split('.')[0]}-sbom.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
