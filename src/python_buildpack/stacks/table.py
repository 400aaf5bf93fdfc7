"""Identities shared by the build, the dev tools and the tests: stacks and runtime archives.

A leaf module (imports nothing from the package), so that anything may import it.
`lib/bootstrap.sh` cannot: tests/unit/test_stacks.py checks that its copy agrees with this one.
See README, "Supported stacks", and docs/distribution.md, "A private runtime mirror".
"""

from __future__ import annotations

UBUNTU_TO_STACK = {"20.04": "scalingo-20", "22.04": "scalingo-22", "24.04": "scalingo-24"}
STACK_TO_UBUNTU = {stack: version for version, stack in UBUNTU_TO_STACK.items()}

# The upstream CNB stack ids of the same Ubuntu releases.
CNB_STACK_IDS = {
    "scalingo-20": "io.buildpacks.stacks.focal",
    "scalingo-22": "io.buildpacks.stacks.jammy",
    "scalingo-24": "io.buildpacks.stacks.noble",
}
# CNB_STACK_ID values (deprecated, still sent by older platforms) -> stack.
STACK_ID_ALIASES = {
    **{stack: stack for stack in STACK_TO_UBUNTU},
    **{stack.replace("scalingo-", "heroku-"): stack for stack in STACK_TO_UBUNTU},
    **{cnb_id: stack for stack, cnb_id in CNB_STACK_IDS.items()},
}

END_OF_LIFE_STACKS = {"scalingo-20"}

ARCHES = {"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64"}
# Architectures with Python runtimes, per stack.
STACK_ARCHES = {"scalingo-20": ("amd64",), "scalingo-22": ("amd64", "arm64"), "scalingo-24": ("amd64", "arm64")}

SUPPORTED = (
    "Supported: Ubuntu 20.04, 22.04 and 24.04 (stacks scalingo-20, scalingo-22, scalingo-24, "
    "also named heroku-20/22/24 or io.buildpacks.stacks.focal/jammy/noble) on amd64, "
    "and 22.04/24.04 on arm64."
)

# --- runtime archives on the mirror ---------------------------------------------------

BASE_URL_SETTING = "BP_PYTHON_RUNTIME_BASE_URL"
LEGACY_BASE_URL_SETTING = "BUILDPACK_S3_BASE_URL"
# How advice about the archives' content addresses the operator of a private mirror.
OWN_MIRROR = f"If you run your own runtime mirror ({BASE_URL_SETTING})"
MIRROR_HINT = (
    f"If you set {BASE_URL_SETTING} (or the legacy {LEGACY_BASE_URL_SETTING}), check that "
    "it points to a mirror that holds this archive."
)


def archive_name(version: str, ubuntu_version: str, arch: str) -> str:
    """The file name of a runtime archive on the mirror."""
    return f"python-{version}-ubuntu-{ubuntu_version}-{arch}.tar.zst"
