"""buildpack.toml and package.toml: the shapes platforms and `pack` read."""

from __future__ import annotations

from support.builds import BUILDPACK_DIR

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.descriptor import BuildpackDescriptor, PackageDescriptor


def test_buildpack_toml() -> None:
    descriptor = BuildpackDescriptor.model_validate(toml_io.load(BUILDPACK_DIR / "buildpack.toml"))
    assert descriptor.api == "0.10"
    assert descriptor.buildpack.id == "scalingo/python"
    assert descriptor.buildpack.licenses and descriptor.buildpack.homepage
    assert "application/vnd.cyclonedx+json" in descriptor.buildpack.sbom_formats
    targets = {(t.os, t.arch, d.name, d.version) for t in descriptor.targets for d in t.distros}
    assert targets == {
        ("linux", "amd64", "ubuntu", "20.04"),
        ("linux", "amd64", "ubuntu", "22.04"),
        ("linux", "amd64", "ubuntu", "24.04"),
        ("linux", "arm64", "ubuntu", "22.04"),
        ("linux", "arm64", "ubuntu", "24.04"),
    }
    # [[stacks]] is deprecated in 0.10: only the wildcard, for platforms that still match stacks
    assert [s.id for s in descriptor.stacks] == ["*"]


def test_package_toml() -> None:
    package = PackageDescriptor.model_validate(toml_io.load(BUILDPACK_DIR / "package.toml"))
    assert package.buildpack.uri == "."
    assert package.platform.os == "linux"


def test_entry_points_are_executable() -> None:
    for name in ("detect", "build"):
        path = BUILDPACK_DIR / "bin" / name
        assert path.stat().st_mode & 0o111, f"bin/{name} is not executable"
        assert path.read_text().startswith("#!/bin/sh\n")
