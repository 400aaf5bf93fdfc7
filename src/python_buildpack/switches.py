"""The user's on/off settings (BP_PYTHON_RUNTIME_REQUIRE_PIN, BP_PYTHON_INSTALL_DEV_DEPENDENCIES):
one set of accepted spellings, and a stop on anything else rather than a guess."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import BuildError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def switch(settings: Mapping[str, str], name: str, meaning: str) -> bool:
    """The setting `name` as a boolean (unset: off); `meaning` ends the error for another value."""
    value = settings.get(name, "").strip()
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise BuildError(
        f"Invalid {name}: {value[:80]!r}",
        f"{name} must be true or false (also accepted: 1/0, yes/no, on/off). {meaning}",
    )
