"""Which interpreters the artifact vendors compiled dependencies for.

CPython 3.10 and 3.12 are the `python3` of the Ubuntu 22.04 and 24.04 build images, on both
machines; Ubuntu 20.04 (3.8) and images without python3 run the build on a CPython 3.12 that
lib/bootstrap.sh fetches from the runtime mirror. Other versions can be added with `--python`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PYTHONS = ("3.10", "3.12")
MACHINES = ("x86_64", "aarch64")  # `uname -m` of amd64 and arm64 Linux
# Ubuntu 20.04 has glibc 2.31: every manylinux tag up to 2.31 runs on all supported stacks.
_MAX_GLIBC_MINOR = 31
_MIN_GLIBC_MINOR = 17


@dataclass(frozen=True, order=True)
class VendorTarget:
    python: str  # "3.12"
    machine: str  # "x86_64"

    @property
    def name(self) -> str:
        """The vendor directory name, as lib/boot.py computes it from the running interpreter."""
        return f"{self.abi}-{self.machine}"

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def platform_tags(self) -> list[str]:
        """Most specific first, as pip prefers them (pip does not expand a newer manylinux tag)."""
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in range(_MAX_GLIBC_MINOR, _MIN_GLIBC_MINOR - 1, -1)]
        return [*tags, f"manylinux2014_{self.machine}"]

    def marker_environments(self) -> list[dict[str, str]]:
        """PEP 508 marker values of this target, at its first and a late patch release.

        A requirement is vendored when its marker holds for either: an unused extra package is
        harmless, a missing one is not.
        """
        base = {
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_release": "",
            "platform_version": "",
            "python_version": self.python,
        }
        return [
            base | {"python_full_version": f"{self.python}.{patch}", "implementation_version": f"{self.python}.{patch}"}
            for patch in (0, 99)
        ]


def targets(pythons: tuple[str, ...] = DEFAULT_PYTHONS, machines: tuple[str, ...] = MACHINES) -> list[VendorTarget]:
    return sorted(VendorTarget(python, machine) for python in pythons for machine in machines)
