"""lib/bootstrap.sh (POSIX sh, no Python yet) keeps its own copy of the stack table, the archive
name and the mirror hint: these tests run its text and compare with `python_buildpack.stacks.table`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.builds import BUILDPACK_DIR

from python_buildpack.runtime.mirror import DEFAULT_BASE_URL
from python_buildpack.stacks.table import (
    ARCHES,
    MIRROR_HINT,
    STACK_ID_ALIASES,
    STACK_TO_UBUNTU,
    UBUNTU_TO_STACK,
    archive_name,
)

BOOTSTRAP = (BUILDPACK_DIR / "lib" / "bootstrap.sh").read_text(encoding="utf-8")
# Its stack and machine detection, up to the interpreter choice.
DETECTION = BOOTSTRAP[BOOTSTRAP.index("# --- stack and machine") : BOOTSTRAP.index("# --- which interpreter")]


def line(prefix: str) -> str:
    """The one line of bootstrap.sh that starts with `prefix`."""
    (found,) = [text for text in BOOTSTRAP.splitlines() if text.startswith(prefix)]
    return found


def sh(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=False)


def detect(env: dict[str, str], machine: str = "x86_64") -> str:
    """`<stack> <ubuntu> <arch>` as bootstrap.sh works them out, or its error."""
    script = (
        'fail() { printf "FAIL %s\\n" "$1"; exit 1; }\n'
        f'uname() {{ printf "%s\\n" "{machine}"; }}\n'
        f"{DETECTION}\n"
        'printf "%s %s %s\\n" "$stack" "$ubuntu" "$arch"\n'
    )
    return sh(script, {"PATH": "/usr/bin:/bin", **env}).stdout.strip()


@pytest.mark.parametrize(("stack_id", "stack"), sorted(STACK_ID_ALIASES.items()))
def test_stack_ids(stack_id: str, stack: str) -> None:
    assert detect({"CNB_STACK_ID": stack_id}) == f"{stack} {STACK_TO_UBUNTU[stack]} amd64"


def test_every_stack_id_alias_is_known_to_python() -> None:
    cases = DETECTION.split("case $CNB_STACK_ID in")[1].split("esac")[0].splitlines()
    aliases = {alias.strip() for case in cases if ")" in case for alias in case.split(")")[0].split("|")}
    assert aliases == set(STACK_ID_ALIASES)


@pytest.mark.parametrize(("ubuntu", "stack"), sorted(UBUNTU_TO_STACK.items()))
def test_target_distro(ubuntu: str, stack: str) -> None:
    env = {"CNB_TARGET_DISTRO_NAME": "ubuntu", "CNB_TARGET_DISTRO_VERSION": ubuntu}
    assert detect(env) == f"{stack} {ubuntu} amd64"


@pytest.mark.parametrize("ubuntu", ["18.04", "26.04", ""])
def test_other_distros_fail(ubuntu: str) -> None:
    env = {"CNB_TARGET_DISTRO_NAME": "ubuntu", "CNB_TARGET_DISTRO_VERSION": ubuntu}
    assert detect(env).startswith("FAIL Unsupported stack")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64", "arm64"])
def test_machines(machine: str) -> None:
    env = {"CNB_TARGET_DISTRO_NAME": "ubuntu", "CNB_TARGET_DISTRO_VERSION": "22.04"}
    assert detect(env, machine).split()[-1] == ARCHES[machine]


def test_archive_name() -> None:
    script = f'version=3.12.1 ubuntu=24.04 arch=arm64\n{line("file=")}\nprintf "%s" "$file"'
    assert sh(script, {}).stdout == archive_name("3.12.1", "24.04", "arm64")


@pytest.mark.parametrize(("name", "value"), [("MIRROR_HINT=", MIRROR_HINT), ("DEFAULT_BASE_URL=", DEFAULT_BASE_URL)])
def test_constants(name: str, value: str) -> None:
    assert sh(f'{line(name)}\nprintf "%s" "${name[:-1]}"', {}).stdout == value


def test_bootstrap_names_its_source_of_truth() -> None:
    assert "src/python_buildpack/stacks/table.py" in BOOTSTRAP
    assert Path(__file__).name in BOOTSTRAP
