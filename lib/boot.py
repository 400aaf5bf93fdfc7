"""First Python code of bin/build: `python3 -I [-S] lib/boot.py <buildpack dir> build`.

Puts the buildpack's code (src/) first on sys.path and, in a packaged buildpack, the
dependencies it vendors for this interpreter (vendor/cpXY-<machine>, vendor/common), then runs
the phase in this process.

When this interpreter cannot run the build (older than 3.8, or no vendored dependencies for its
version), a packaged buildpack hands over to lib/bootstrap.sh (fetches a CPython it vendors
for). See docs/distribution.md. Runs on whatever python3 the build image has: keep the syntax
old. (bin/detect runs no Python: lib/detect.sh.)
"""

# ruff: noqa: UP031, UP036  (%-formatting and the version check keep it running on old Pythons)

import os
import sys

# Set by lib/bootstrap.sh to the LD_LIBRARY_PATH it found, before adding the fetched
# interpreter's lib/ for its start: restored so the build's subprocesses do not inherit it.
BOOTSTRAP_VARIABLE = "_PYTHON_BUILDPACK_LD_LIBRARY_PATH"


def vendored_versions(vendor: str, machine: str) -> "list[str]":
    suffix = "-" + machine
    names = os.listdir(vendor) if os.path.isdir(vendor) else []
    found = [name[2:-len(suffix)] for name in names if name.startswith("cp3") and name.endswith(suffix)]
    return ["%s.%s" % (v[0], v[1:]) for v in sorted(found, key=lambda v: (len(v), v))]


def main() -> None:
    bp_dir, phase = sys.argv[1], sys.argv[2]
    bootstrapped = BOOTSTRAP_VARIABLE in os.environ
    if bootstrapped:
        original = os.environ.pop(BOOTSTRAP_VARIABLE)
        if original:
            os.environ["LD_LIBRARY_PATH"] = original
        else:
            os.environ.pop("LD_LIBRARY_PATH", None)
    vendor = os.path.join(bp_dir, "vendor")
    packaged = os.path.isdir(vendor)
    paths = [os.path.join(bp_dir, "src")]
    problem = ""
    if sys.version_info < (3, 8):
        problem = "the buildpack needs Python 3.8 or later"
    elif packaged:
        machine = os.uname()[4]
        tag = "cp%d%d-%s" % (sys.version_info[0], sys.version_info[1], machine)
        if sys.implementation.name != "cpython" or not os.path.isdir(os.path.join(vendor, tag)):
            problem = "the buildpack runs on CPython %s (it ships its dependencies for those)" % " or ".join(
                vendored_versions(vendor, machine) or ["(none for %s)" % machine]
            )
        paths += [os.path.join(vendor, tag), os.path.join(vendor, "common")]
    if problem:
        hand_over(bp_dir, phase, packaged and not bootstrapped, problem)
    sys.path[0:0] = paths
    from python_buildpack.__main__ import main as run_phase

    sys.exit(run_phase(["", phase]))


def hand_over(bp_dir: str, phase: str, can_fall_back: bool, problem: str) -> None:
    where = "%s (Python %s)" % (sys.executable, sys.version.split()[0])
    if not can_fall_back:
        sys.stderr.write("Error: scalingo/python (%s) cannot run on %s: %s.\n" % (phase, where, problem))
        sys.exit(1)
    print("\n## Buildpack runtime")
    print("   - python3 on this image is %s: %s" % (where, problem))
    sys.stdout.flush()
    os.execv("/bin/sh", ["/bin/sh", os.path.join(bp_dir, "lib", "bootstrap.sh"), bp_dir])


main()
