from __future__ import annotations

from pathlib import Path

import pytest

from python_buildpack.cnb.context import CnbTarget, PhaseContext
from python_buildpack.errors import BuildError
from python_buildpack.stacks.identify import resolve


def ctx(target: CnbTarget | None = None, stack_id: str = "") -> PhaseContext:
    return PhaseContext(
        app_dir=Path("."), buildpack_dir=Path("."), platform_dir=None,
        target=target or CnbTarget(arch="amd64"), stack_id=stack_id,
    )


@pytest.mark.parametrize(
    ("version", "stack"), [("20.04", "scalingo-20"), ("22.04", "scalingo-22"), ("24.04", "scalingo-24")]
)
def test_target_distro_maps_to_stack(version: str, stack: str) -> None:
    result = resolve(ctx(CnbTarget(arch="amd64", distro_name="ubuntu", distro_version=version)))
    assert (result.name, result.ubuntu_version, result.arch) == (stack, version, "amd64")
    assert result.end_of_life == (stack == "scalingo-20")


@pytest.mark.parametrize(
    ("stack_id", "stack"),
    [
        ("scalingo-20", "scalingo-20"), ("scalingo-22", "scalingo-22"), ("scalingo-24", "scalingo-24"),
        ("heroku-20", "scalingo-20"), ("heroku-22", "scalingo-22"), ("heroku-24", "scalingo-24"),
        ("io.buildpacks.stacks.focal", "scalingo-20"), ("io.buildpacks.stacks.jammy", "scalingo-22"),
        ("io.buildpacks.stacks.noble", "scalingo-24"),
    ],
)
def test_deprecated_stack_id_maps(stack_id: str, stack: str) -> None:
    assert resolve(ctx(stack_id=stack_id)).name == stack


def test_target_wins_over_stack_id() -> None:
    target = CnbTarget(arch="arm64", distro_name="ubuntu", distro_version="24.04")
    result = resolve(ctx(target, stack_id="heroku-20"))
    assert (result.name, result.arch) == ("scalingo-24", "arm64")


def test_os_release_is_the_last_resort(tmp_path: Path) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\n')
    result = resolve(ctx(), os_release=os_release)
    assert result.name == "scalingo-22"
    assert str(os_release) in result.source


@pytest.mark.parametrize(
    ("target", "stack_id", "os_release", "seen"),
    [
        (CnbTarget(arch="amd64", distro_name="ubuntu", distro_version="18.04"), "", "", "ubuntu 18.04"),
        (CnbTarget(arch="amd64", distro_name="debian", distro_version="12"), "", "", "debian 12"),
        (None, "heroku-18", "", "heroku-18"),
        (None, "", 'ID=alpine\nVERSION_ID=3.20\n', "alpine 3.20"),
        (None, "", "", "unknown"),
    ],
)
def test_unsupported_targets_are_clear_errors(
    tmp_path: Path, target: CnbTarget | None, stack_id: str, os_release: str, seen: str
) -> None:
    path = tmp_path / "os-release"
    if os_release:
        path.write_text(os_release)
    with pytest.raises(BuildError) as error:
        resolve(ctx(target, stack_id), os_release=path)
    assert seen in error.value.title
    assert "22.04" in error.value.details  # says what is supported


def test_scalingo_20_has_no_arm64() -> None:
    with pytest.raises(BuildError, match="arm64"):
        resolve(ctx(CnbTarget(arch="arm64", distro_name="ubuntu", distro_version="20.04")))


def test_unknown_arch() -> None:
    with pytest.raises(BuildError, match="s390x"):
        resolve(ctx(CnbTarget(arch="s390x", distro_name="ubuntu", distro_version="22.04")))
