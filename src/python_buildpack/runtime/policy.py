"""What the build does around the requested version: the sticky version of an app without a
version file, the warning that it has none, and the end-of-life warning.

An app that names no version keeps the major version of its previous build (the cached
`python` layer's metadata) rather than jumping to a new default major when the buildpack's
default changes: a major upgrade must be the app's choice. A first build gets the default.
"""

from __future__ import annotations

from datetime import date

from .catalog import RuntimeCatalog
from .selection import NEWEST_END_OF_LIFE, PREVIOUS_BUILD, ResolvedVersion
from .version_files import DEFAULT, RequestedVersion, VersionWarning
from .version_numbers import FULL_RE, major_of, version_key

# Warn this long before a major version's end of life.
EOL_NOTICE_DAYS = 365


def sticky(requested: RequestedVersion, previous: str | None, catalog: RuntimeCatalog, stack: str) -> RequestedVersion:
    """The previous build's major when the app names no version and that major is still offered."""
    if requested.source != DEFAULT or previous is None or not FULL_RE.fullmatch(previous):
        return requested
    major = major_of(previous)
    if catalog.newest_patch(stack, major) is None:
        return requested  # e.g. the stack changed: the default applies, as on a first build
    return RequestedVersion(major=major, full=None, source=PREVIOUS_BUILD, raw=previous)


def missing_file_warning(resolved: ResolvedVersion) -> VersionWarning | None:
    requested = resolved.requested
    if requested.source not in (DEFAULT, PREVIOUS_BUILD):
        return None
    why = (
        f"it is the major version of the app's previous build ({requested.raw})"
        if requested.source == PREVIOUS_BUILD
        else "it is the buildpack's default, which changes over time"
    )
    return VersionWarning(
        "No Python version file",
        f"The app does not say which Python it needs, so this build uses Python {resolved.version}: "
        f"{why}. Pin the major version with a .python-version file at the root of the app, so "
        "that builds, your machine and CI agree:\n\n"
        f"    $ echo {requested.major} > .python-version\n\n"
        "Each build then gets the newest patch of that version, with its security fixes.",
    )


def end_of_life_warning(
    resolved: ResolvedVersion, catalog: RuntimeCatalog, stack: str, today: date
) -> VersionWarning | None:
    """A warning when the major version's end of life (catalogue data) is less than a year away,
    or has passed: a catalogue may offer an end-of-life major (3.10) without saying when it ended.
    """
    major = resolved.requested.major
    end = catalog.end_of_life.get(major)
    undated = end is None and version_key(major) <= NEWEST_END_OF_LIFE
    if undated:
        end = date.min
    if end is None or (end - today).days > EOL_NOTICE_DAYS:
        return None
    newer = [m for m in catalog.majors(stack) if m != major and catalog.end_of_life.get(m, date.max) > end]
    target = catalog.default if catalog.default in newer else (newer[-1] if newer else None)
    when = (
        "is end-of-life"
        if undated
        else f"reached its end of life on {end.isoformat()}"
        if end <= today
        else f"reaches its end of life on {end.isoformat()}"
    )
    details = (
        f"Python {major} {when}: {'it' if undated else 'from then on it'} gets no security fixes, and "
        "builds will refuse it once the platform stops offering it."
    )
    if target:
        source = resolved.requested.source
        where = ".python-version" if source in (DEFAULT, PREVIOUS_BUILD, ".python-version") else source
        details += f" Upgrade the app to Python {target}: test it locally, then request {target} in {where}" + (
            ", for example:\n\n    $ echo " + target + " > .python-version\n" if where == ".python-version" else "."
        )
    return VersionWarning(
        f"Python {major} is near its end of life" if end > today else f"Python {major} is end-of-life", details
    )
