"""The environment of every installer run: the build environment, the user's installer
settings, and what makes installs reproducible and quiet."""

from __future__ import annotations

from collections.abc import Mapping

# User settings for the installers pass through (private indexes, timeouts, ...).
SETTING_PREFIXES = ("PIP_", "PIPENV_", "POETRY_", "UV_")

# A fixed SOURCE_DATE_EPOCH makes pip, uv and poetry write checked-hash .pyc files (the
# exported layer's mtimes are normalised, so timestamp-based ones would always be stale) and
# makes wheels built from sdists reproducible. 1980-01-01, the oldest date a zip can hold.
SOURCE_DATE_EPOCH = "315532800"


def user_settings(settings: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in settings.items() if k.startswith(SETTING_PREFIXES)}


def installer_env(env: Mapping[str, str], settings: Mapping[str, str]) -> dict[str, str]:
    """The base environment of every installer run: the build env plus the user's settings."""
    result = dict(env)
    # The buildpack's own import path must not leak into the tools' interpreters.
    for name in ("PYTHONPATH", "PYTHONHOME"):
        result.pop(name, None)
    result.update(user_settings(settings))
    result.setdefault("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
    result.setdefault("NO_COLOR", "1")
    result.setdefault("PYTHONUTF8", "1")
    # These would send pip's installs somewhere else than the venv.
    for name in ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "PIP_PYTHON"):
        result.pop(name, None)
    return result
