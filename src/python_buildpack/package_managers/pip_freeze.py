"""A requirements file that pins every distribution (`pip freeze` output): its target set is the
file itself, so pip's update needs no side resolution (pip_update.py).

The side resolution (`--dry-run --ignore-installed --report`) asks the index about every
project, which is most of a one-pin update of a large app (about 3.5 s of 5 for 96 pins here,
nothing of it cacheable behind some proxies), while `pip install -r` over satisfied pins asks
about the changed ones only. A file is frozen when each requirement whose markers hold for the
runtime is an exact `name==version` (extras allowed), with no include, constraint, editable
install or per-line option. Its pins are then the target set, provided that the installed
distributions' dependencies, followed from them (with extras and markers), name nothing else:
`closed` checks that from the metadata, before the install (as the venv stands; a file of
top-level pins only, or a new pin, resolves meanwhile as usual) and after it (a changed pin's
new dependencies; should they fall outside, the update resolves then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName, default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..layers.venv import requirements
from .pip import _logical_lines

# Options that bring requirements from elsewhere, or that are not index releases.
_NOT_FROZEN = ("-r", "--requirement", "-c", "--constraint", "-e", "--editable")
_MARKER_ERRORS = (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName)

Pins = dict[str, tuple[str, frozenset[str]]]  # canonical name → (version, extras)


def marker_environment(python_version: str) -> dict[str, str]:
    """The marker values of the runtime's interpreter: this machine's, with the runtime's
    version (the buildpack may run on another Python)."""
    environment = {name: str(value) for name, value in default_environment().items()}
    environment.update(python_version=".".join(python_version.split(".")[:2]), python_full_version=python_version,
                       implementation_name="cpython", implementation_version=python_version,
                       platform_python_implementation="CPython")  # fmt: skip
    return environment


def frozen_pins(files: Sequence[Path], python_version: str) -> Pins | None:
    """The pins of requirements files that pin everything; None when one does not."""
    environment = marker_environment(python_version)
    pins: Pins = {}
    for path in files:
        for tokens in _logical_lines(path):
            if tokens[0].startswith("-"):
                if tokens[0].split("=", 1)[0] in _NOT_FROZEN:
                    return None
                continue  # an index URL, --no-binary, ...: how, not what
            if any(token.startswith("-") for token in tokens[1:]):
                return None  # a per-line option (--hash, --config-settings)
            try:
                requirement = Requirement(" ".join(tokens))
                if requirement.marker is not None and not requirement.marker.evaluate(environment):
                    continue
            except (InvalidRequirement, *_MARKER_ERRORS):
                return None
            specifiers = list(requirement.specifier)
            exact = len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version
            if requirement.url or not exact:
                return None
            name = canonicalize_name(requirement.name)
            version, extras = pins.get(name, (specifiers[0].version, frozenset()))
            if version != specifiers[0].version:
                return None  # pinned twice, differently: pip says why
            pins[name] = (version, extras | requirement.extras)
    return pins


def closed(venv: Path | Mapping[str, list[str]], pins: Pins, python_version: str) -> bool:
    """Whether the installed distributions' dependencies, followed from `pins`, stay within
    them (so that a fresh install would get exactly the pins). `venv`: the venv, or what its
    distributions require (`layers/venv.py`'s `requirements`, maybe as recorded)."""
    environment = marker_environment(python_version)
    metadata = requirements(venv) if isinstance(venv, Path) else venv
    seen: set[tuple[str, str]] = set()
    pending = [(name, extra) for name, (_, extras) in pins.items() for extra in ("", *sorted(extras))]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        if name not in pins or name not in metadata:
            return False
        for line in metadata[name]:
            try:
                requirement = Requirement(line)
                marker = requirement.marker
                if marker is not None and not marker.evaluate({**environment, "extra": extra}):
                    continue
            except (InvalidRequirement, *_MARKER_ERRORS):
                return False
            dependency = canonicalize_name(requirement.name)
            pending += [(dependency, e) for e in ("", *sorted(requirement.extras))]
    return True
