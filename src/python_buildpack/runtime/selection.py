"""Which version an app's request means on this stack, and what the build log says about it.

The request is read from the app's files by `version_files` (README, "Python version").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BuildError
from ..stacks.table import END_OF_LIFE_STACKS
from .catalog import RuntimeCatalog
from .version_files import DEFAULT as DEFAULT
from .version_files import PIPFILE_LOCK, how_to_request, show

# Re-exported: the build and the project analysis read the request through this module.
from .version_files import PYTHON_VERSION_FILE as PYTHON_VERSION_FILE
from .version_files import RUNTIME_TXT as RUNTIME_TXT
from .version_files import RequestedVersion as RequestedVersion
from .version_files import VersionWarning as VersionWarning
from .version_files import read_requested_version as read_requested_version
from .version_numbers import version_key

PREVIOUS_BUILD = "the previous build"  # no version file: the major of the cached runtime
NEWEST_END_OF_LIFE = (3, 10)  # majors up to this one are refused as end-of-life


@dataclass(frozen=True)
class ResolvedVersion:
    version: str  # the exact version to install
    requested: RequestedVersion
    newest_patch: str | None = None  # set when the app pins an older patch than the stack has


# --- resolving ------------------------------------------------------------------------


def resolve(requested: RequestedVersion, catalog: RuntimeCatalog, stack_name: str) -> ResolvedVersion:
    """The exact version to install on `stack_name`, or a BuildError saying why there is none."""
    newest = catalog.newest_patch(stack_name, requested.major)
    if newest is None:
        raise _major_unavailable(requested, catalog, stack_name)
    if requested.full is None:
        return ResolvedVersion(version=newest, requested=requested)
    if version_key(requested.full) > version_key(newest):
        raise _patch_unavailable(requested, catalog, stack_name, newest)
    return ResolvedVersion(
        version=requested.full, requested=requested, newest_patch=None if newest == requested.full else newest
    )


def _major_unavailable(requested: RequestedVersion, catalog: RuntimeCatalog, stack: str) -> BuildError:
    major = requested.major
    majors = catalog.majors(stack)
    if not majors:
        return BuildError(
            f"No Python versions for stack {stack}",
            f"{_requests(requested)} The runtime catalogue {catalog.origin} lists no Python "
            f"versions for {stack}. "
            f"Add a [stacks.{stack}] table to it, or build on one of its stacks: "
            f"{', '.join(sorted(catalog.stacks))}.",
        )
    elsewhere = catalog.stacks_offering(major)
    every_major = {m for table in catalog.stacks.values() for m in table}
    if elsewhere:
        title = f"Python {major} is not available on {stack}"
        why = f"Python {major} is available on {', '.join(elsewhere)}, not on {stack}."
        why += _stack_advice(stack, elsewhere)
    elif version_key(major) <= NEWEST_END_OF_LIFE:
        title = f"Python {major} is end-of-life"
        why = f"Python {major} is end-of-life and no longer supported: it gets no security fixes."
    elif all(version_key(major) > version_key(m) for m in every_major):
        title = f"Python {major} is not supported yet"
        why = f"Python {major} is newer than every version this buildpack offers."
    else:
        title = f"Python {major} is not available on {stack}"
        why = f"The runtime catalogue has no Python {major} for {stack}."
    suggestion = catalog.default if catalog.default in majors else majors[-1]
    fix = how_to_request(requested.source, suggestion, requested.overridden)
    return BuildError(title, f"{_requests(requested)} {why} {_supported(catalog, stack)} {fix}")


def _patch_unavailable(requested: RequestedVersion, catalog: RuntimeCatalog, stack: str, newest: str) -> BuildError:
    full = requested.version
    why = f"The newest Python {requested.major} on {stack} is {newest}."
    elsewhere = catalog.stacks_offering(full)
    if elsewhere:
        why += f" Python {full} is available on {', '.join(elsewhere)}.{_stack_advice(stack, elsewhere)}"
    return BuildError(
        f"Python {full} is not available on {stack}",
        f"{_requests(requested)} {why} {_supported(catalog, stack)} "
        + how_to_request(requested.source, requested.major, requested.overridden),
    )


def _requests(requested: RequestedVersion) -> str:
    if requested.source == DEFAULT:
        return f"The runtime catalogue's default is Python {requested.major}."
    return f"{requested.origin} requests Python {show(requested.raw)}."


def _stack_advice(stack: str, elsewhere: list[str]) -> str:
    if stack not in END_OF_LIFE_STACKS:
        return ""
    target = elsewhere[-1]
    return (
        f" {stack} is end-of-life and gets no new Python releases: move the app to {target} "
        f"(scalingo --app <app> stacks-set {target}), or request a version {stack} offers."
    )


def _supported(catalog: RuntimeCatalog, stack: str) -> str:
    versions = ", ".join(f"{m} (up to {catalog.stacks[stack][m]})" for m in catalog.majors(stack))
    return f"Available on {stack}: {versions}."


# --- a tool refuses the version --------------------------------------------------------


def change_advice(requested: RequestedVersion, version: str, wanted: str) -> str:
    """Where this build's Python `version` came from and how to request another, for the errors
    of tools that refuse it. `wanted` describes an acceptable version ("that matches >=3.12").

    It names the file that decided, since changing another one would change nothing.
    """
    acceptable = f"a version {wanted}"
    if requested.source == RUNTIME_TXT:
        said = f"This build uses Python {version} because runtime.txt says {show(requested.raw)}"
        if requested.overridden:
            return (
                f"{said}, and runtime.txt takes precedence over .python-version ({requested.overridden}). "
                "Delete runtime.txt (`git rm runtime.txt`): .python-version will then be used."
            )
        return (
            f"{said}. runtime.txt is deprecated: delete it (`git rm runtime.txt`) and create a "
            f".python-version file holding {acceptable}."
        )
    if requested.source == PYTHON_VERSION_FILE:
        return (
            f"This build uses Python {version} because .python-version says {show(requested.raw)}: "
            f"change it to {acceptable}."
        )
    if requested.source == PIPFILE_LOCK:
        return (
            f"This build uses Python {version} because Pipfile.lock says {requested.key} = "
            f"{show(requested.raw)}. Add a .python-version file holding {acceptable}, which takes "
            "precedence over Pipfile.lock, or set python_version in the [requires] section of "
            "Pipfile and run `pipenv lock`."
        )
    why = "the buildpack's default" if requested.source == DEFAULT else f"the version of {requested.source}"
    return (
        f"The app has no Python version file, so this build uses Python {version}, {why}. Add a "
        f".python-version file holding {acceptable}."
    )


# --- build log ------------------------------------------------------------------------


def log_lines(resolved: ResolvedVersion) -> list[str]:
    """The decision for the build log: the first line is a step, the others are details."""
    requested = resolved.requested
    if requested.source == DEFAULT:
        return [f"Using Python {resolved.version} (default; no Python version file found)"]
    if requested.source == PREVIOUS_BUILD:
        return [
            f"Using Python {resolved.version} ({requested.major} from the previous build; "
            "add a .python-version file to choose)"
        ]
    lines = [f"Using Python {resolved.version} ({requested.version} from {requested.origin})"]
    if resolved.newest_patch:
        lines.append(
            f"Python {resolved.newest_patch} is available: request {requested.major} in "
            f"{requested.source} to get security fixes automatically."
        )
    return lines
