"""The build environment: variables from earlier buildpacks or the platform that break installs.

- PYTHONHOME and PYTHONPATH are removed, with a log line: they make every Python of the
  build (runtime, installers, hooks) import another installation's modules.
- Variables that send installed packages somewhere other than the `venv` layer are refused
  when the app evidently relies on that other place (the build fails, naming each one), and
  ignored with a warning when the buildpack's own choice makes them harmless.

| variable | decision | why |
| --- | --- | --- |
| PIP_TARGET, PIP_PREFIX, PIP_ROOT | error | pip would install outside the venv the app runs from |
| PIP_USER (true value) | error | the same, into the user site-packages |
| UV_PROJECT_ENVIRONMENT | error | uv would sync into that directory instead of the venv |
| POETRY_VIRTUALENVS_CREATE (true value) | error | asks poetry for a venv of its own |
| other POETRY_VIRTUALENVS_* | warning, removed | poetry installs into the active venv, they do nothing |
| VIRTUAL_ENV | warning, replaced | the `venv` layer is the app's virtual environment |
| PYTHONUSERBASE | warning, removed | a venv does not see the user site-packages |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .. import output
from ..errors import BuildError

REMOVED = ("PYTHONHOME", "PYTHONPATH")

# pip's and poetry's spelling of booleans; anything else counts as true, as for pip.
_FALSE = {"", "0", "false", "no", "n", "f", "off"}


@dataclass(frozen=True)
class Rule:
    name: str  # a variable, or a prefix ending in "_"
    error: bool
    why: str
    only_if_true: bool = False


RULES: tuple[Rule, ...] = (
    Rule(
        "PIP_TARGET", True, "pip would install the packages into that directory, not into the app's virtual environment"
    ),
    Rule(
        "PIP_PREFIX", True, "pip would install the packages under that prefix, not into the app's virtual environment"
    ),
    Rule("PIP_ROOT", True, "pip would install the packages under that root directory, outside the virtual environment"),
    Rule(
        "PIP_USER",
        True,
        "pip would install into the user site-packages, which the app's virtual environment does not see",
        only_if_true=True,
    ),
    Rule(
        "UV_PROJECT_ENVIRONMENT", True, "uv would install into that directory instead of the app's virtual environment"
    ),
    Rule(
        "POETRY_VIRTUALENVS_CREATE",
        True,
        "poetry would create a virtual environment of its own, which is not in the image",
        only_if_true=True,
    ),
    Rule("POETRY_VIRTUALENVS_", False, "poetry installs into the buildpack's virtual environment, so it has no effect"),
    Rule("VIRTUAL_ENV", False, "the buildpack's `venv` layer is the app's virtual environment; it replaces this value"),
    Rule("PYTHONUSERBASE", False, "a virtual environment does not see the user site-packages, so it has no effect"),
)


@dataclass(frozen=True)
class Finding:
    name: str
    value: str
    rule: Rule


def sanitize(settings: Mapping[str, str], env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """`settings` (user configuration) and `env` (process env) without the variables above.

    Logs what is removed, raises a BuildError naming every refused variable.
    """
    findings = _findings({**env, **settings})
    errors = [f for f in findings if f.rule.error]
    if errors:
        raise _refusal(errors)
    dropped = set(REMOVED) | {f.name for f in findings}
    for name in REMOVED:
        if name in env or name in settings:
            output.step(
                f"Removed {name} from the build environment (set by the platform or an earlier "
                "buildpack: it would make Python load modules from elsewhere)"
            )
    ignored = [f for f in findings if f.name not in REMOVED]
    if ignored:
        output.warning(
            f"Ignoring {', '.join(f.name for f in ignored)}",
            "\n".join(f"{f.name}: {f.rule.why}." for f in ignored)
            + "\nUnset them in the app's environment to silence this warning.",
        )
    return (
        {k: v for k, v in settings.items() if k not in dropped},
        {k: v for k, v in env.items() if k not in dropped},
    )


def _findings(variables: Mapping[str, str]) -> list[Finding]:
    found: list[Finding] = []
    for name in sorted(variables):
        rule = next((r for r in RULES if name == r.name or (r.name.endswith("_") and name.startswith(r.name))), None)
        if rule is None:
            continue
        value = variables[name]
        if rule.only_if_true and value.strip().lower() in _FALSE:
            continue  # e.g. POETRY_VIRTUALENVS_CREATE=false: what the buildpack does anyway
        found.append(Finding(name, value, rule))
    return found


def _refusal(errors: list[Finding]) -> BuildError:
    names = ", ".join(f.name for f in errors)
    lines = "\n".join(f"- {f.name}={f.value[:80]!r}: {f.rule.why}." for f in errors)
    return BuildError(
        f"{names} must not be set",
        "The build environment sets variables that move installed packages away from the app's "
        "virtual environment (the `venv` layer), where the app runs from:\n"
        f"{lines}\n"
        "Remove them from the app's environment (`scalingo --app <app> env-unset "
        f"{' '.join(f.name for f in errors)}`) or from the buildpack that sets them, and build again.",
    )
