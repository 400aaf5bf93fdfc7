"""Where the runtime archives are: the mirror's base URL from the user's settings, and each
archive's URL on it (README, "Configuration"; docs/distribution.md, "A private runtime mirror").
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import BuildError
from ..stacks.table import BASE_URL_SETTING, LEGACY_BASE_URL_SETTING, archive_name

DEFAULT_BASE_URL = "https://python-binaries.scalingo.com"
BASE_URL_VARIABLES = (BASE_URL_SETTING, LEGACY_BASE_URL_SETTING)  # new name first


def runtime_url(base_url: str, version: str, ubuntu_version: str, arch: str) -> str:
    return f"{base_url.rstrip('/')}/{archive_name(version, ubuntu_version, arch)}"


def base_url(settings: Mapping[str, str]) -> str:
    """The runtime mirror from the user's settings (process env + platform env), else the default."""
    for name in BASE_URL_VARIABLES:
        value = settings.get(name, "").strip()
        if value:
            return checked_base_url(value, name, f"Fix the value or unset {name} to use the default mirror.")
    return DEFAULT_BASE_URL


def checked_base_url(value: str, name: str, fix: str) -> str:
    """`value` without its trailing slash, or a BuildError naming `name` (where it was set)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BuildError(
            f"Invalid {name}: {value!r}",
            f"{name} must be an http:// or https:// URL, for example {DEFAULT_BASE_URL}. "
            "Runtime archives are downloaded from "
            f"<URL>/python-<version>-ubuntu-<ubuntu version>-<arch>.tar.zst. {fix}",
        )
    return value.rstrip("/")
