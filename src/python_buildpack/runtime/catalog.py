"""The runtime catalogue: which Python versions exist on which stack (README, "Python version").

A TOML file shipped in `data/`, replaced by `BP_PYTHON_RUNTIME_CATALOG=<path>`:

    default = "3.13"          # major version used when the app names none
    [end_of_life]             # optional: builds warn during the year before these dates
    "3.12" = 2028-10-31
    [stacks.scalingo-22]      # one table per stack
    "3.12" = "3.12.12"        # major -> newest patch; every patch from .0 up to it exists
    [[artifacts]]             # sha256 pins, one per archive (`python -m python_buildpack.runtime.pin`)
    file = "python-3.12.12-ubuntu-22.04-amd64.tar.zst"
    sha256 = "<64 hex digits>"

A top-level `pins = "pending"` says that some archives are knowingly unpinned (the release
check accepts it; the pinning command removes it once every archive is pinned).

It is loaded on every build, warm rebuilds included, so loading is one small read and parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..cnb import toml_io
from ..errors import BuildError
from ..files.safe_read import UnreadableFileError, read_bounded
from ..stacks.table import STACK_ARCHES, STACK_TO_UBUNTU, archive_name
from ..switches import switch
from .version_numbers import FULL_RE, MAJOR_RE, major_of, version_key

CATALOG_SETTING = "BP_PYTHON_RUNTIME_CATALOG"
REQUIRE_PIN_SETTING = "BP_PYTHON_RUNTIME_REQUIRE_PIN"
PIN_COMMAND = "python -m python_buildpack.runtime.pin"
SHIPPED_CATALOG = Path(__file__).resolve().parents[1] / "data" / "runtime-catalog.toml"
MAX_CATALOG_BYTES = 4 * 1024 * 1024

@dataclass(frozen=True)
class Archive:
    """One runtime archive the catalogue promises: a version for a stack and architecture."""

    stack: str
    version: str
    arch: str

    @property
    def file(self) -> str:
        return archive_name(self.version, STACK_TO_UBUNTU[self.stack], self.arch)


def require_pin(settings: Mapping[str, str]) -> bool:
    """Whether BP_PYTHON_RUNTIME_REQUIRE_PIN (strict mode) is on in the user's settings."""
    return switch(settings, REQUIRE_PIN_SETTING, "true refuses any Python runtime archive that the runtime "
                  "catalogue does not pin by sha256.")


# --- the model ------------------------------------------------------------------------


class Artifact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    sha256: str

    @field_validator("file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if not value.strip() or "/" in value or value in {".", ".."}:
            raise ValueError(
                f"{value!r} is not a file name (expected e.g. python-3.12.12-ubuntu-22.04-amd64.tar.zst)"
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError(f"{value[:80]!r} is not a sha256 digest (64 hexadecimal digits)")
        return value.lower()


class RuntimeCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str
    stacks: dict[str, dict[str, str]]
    artifacts: list[Artifact] = Field(default_factory=list)
    # Major version -> the date it stops getting security fixes (python.org's schedule).
    end_of_life: dict[str, date] = Field(default_factory=dict)
    # Said explicitly, so that a release cannot ship unpinned archives by mistake.
    pins: Literal["pending"] | None = None

    _origin: str = PrivateAttr(default="")

    @field_validator("end_of_life")
    @classmethod
    def _end_of_life_keys(cls, value: dict[str, date]) -> dict[str, date]:
        for major in value:
            if not MAJOR_RE.fullmatch(major):
                raise ValueError(f'{major[:80]!r} is not a major version like "3.13" (quote it: "3.13" = 2029-10-31)')
        return value

    @field_validator("default")
    @classmethod
    def _default_is_major(cls, value: str) -> str:
        if not MAJOR_RE.fullmatch(value):
            raise ValueError(f'{value[:80]!r} is not a major version like "3.13"')
        return value

    @field_validator("stacks", mode="before")
    @classmethod
    def _quoted_keys(cls, value: Any) -> Any:
        # `3.12 = "3.12.12"` (unquoted) is a dotted TOML key, i.e. a nested table {"3": {"12": ...}}.
        if isinstance(value, dict):
            for stack, table in value.items():
                if isinstance(table, dict) and any(isinstance(v, dict) for v in table.values()):
                    raise ValueError(
                        f"[stacks.{stack}] has a nested table: quote version keys, "
                        'e.g. "3.12" = "3.12.12" (an unquoted 3.12 is a dotted key)'
                    )
        return value

    @field_validator("stacks")
    @classmethod
    def _stack_tables(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        if not value:
            raise ValueError("lists no stack (expected tables like [stacks.scalingo-24])")
        for stack, table in value.items():
            if stack not in STACK_TO_UBUNTU:
                raise ValueError(f"unknown stack {stack[:80]!r} (known: {', '.join(STACK_TO_UBUNTU)})")
            for major, newest in table.items():
                if not MAJOR_RE.fullmatch(major):
                    raise ValueError(f'[stacks.{stack}]: {major[:80]!r} is not a major version like "3.13"')
                if not FULL_RE.fullmatch(newest) or major_of(newest) != major:
                    raise ValueError(
                        f"[stacks.{stack}]: {major!r} = {newest[:80]!r}: the value must be the newest "
                        f'patch of {major}, like "{major}.0"'
                    )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RuntimeCatalog:
        missing = [stack for stack, table in self.stacks.items() if self.default not in table]
        if missing:
            raise ValueError(f"default {self.default!r} is not listed for {', '.join(missing)}")
        files = [artifact.file for artifact in self.artifacts]
        duplicates = sorted({file for file in files if files.count(file) > 1})
        if duplicates:
            raise ValueError(f"several [[artifacts]] for {', '.join(duplicates)}")
        return self

    @property
    def origin(self) -> str:
        """Where the catalogue was read from, for error messages."""
        return self._origin or "(built in memory)"

    def newest_patch(self, stack: str, major: str) -> str | None:
        return self.stacks.get(stack, {}).get(major)

    def is_available(self, stack: str, version: str) -> bool:
        """A full version (or a major: any of its patches) can be installed on this stack."""
        if MAJOR_RE.fullmatch(version):
            return version in self.stacks.get(stack, {})
        if not FULL_RE.fullmatch(version):
            return False
        newest = self.newest_patch(stack, major_of(version))
        return newest is not None and version_key(version) <= version_key(newest)

    def majors(self, stack: str) -> list[str]:
        return sorted(self.stacks.get(stack, {}), key=version_key)

    def stacks_offering(self, version: str) -> list[str]:
        return sorted(stack for stack in self.stacks if self.is_available(stack, version))

    def sha256_for(self, filename: str) -> str | None:
        return next((a.sha256 for a in self.artifacts if a.file == filename), None)

    def archives(self, stacks: Iterable[str] = (), arches: Iterable[str] = ()) -> list[Archive]:
        """Every archive listed: each patch from .0 to the newest, per stack and architecture.

        `stacks` / `arches` restrict the list when not empty. Ordered by stack, version, arch.
        """
        wanted_stacks, wanted_arches = set(stacks), set(arches)
        found = []
        for stack in sorted(self.stacks):
            if wanted_stacks and stack not in wanted_stacks:
                continue
            for major in self.majors(stack):
                newest = self.stacks[stack][major]
                for patch in range(int(newest.rsplit(".", 1)[1]) + 1):
                    for arch in STACK_ARCHES[stack]:
                        if not wanted_arches or arch in wanted_arches:
                            found.append(Archive(stack, f"{major}.{patch}", arch))
        return found

    def unpinned(self) -> list[Archive]:
        """The listed archives that have no sha256 pin (the release check wants none)."""
        pinned = {artifact.file for artifact in self.artifacts}
        return [archive for archive in self.archives() if archive.file not in pinned]


# --- loading --------------------------------------------------------------------------


def load_catalog(settings: Mapping[str, str]) -> RuntimeCatalog:
    """The catalogue named by BP_PYTHON_RUNTIME_CATALOG in `settings`, else the shipped one.

    `settings` is the build's user configuration (platform env over process env). A relative
    path is taken from the working directory, which is the app directory during a build.
    """
    override = settings.get(CATALOG_SETTING, "").strip()
    if override:
        path = Path(override)
        fix = (
            f"{CATALOG_SETTING} is set to {str(path)!r}. Point it to a runtime catalogue in the "
            "documented TOML format, or unset it to use the catalogue shipped with the buildpack."
        )
        return read_catalog(path, fix)
    fix = (
        "The runtime catalogue shipped with the buildpack is broken: this is a bug in the "
        f"buildpack, please report it. Meanwhile, {CATALOG_SETTING} can point to a valid catalogue."
    )
    return read_catalog(SHIPPED_CATALOG, fix)


def read_catalog(path: Path, fix: str) -> RuntimeCatalog:
    """The catalogue in `path`, or a BuildError ending with `fix` (what to do about it)."""
    try:
        text = read_bounded(path, MAX_CATALOG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise BuildError(f"Runtime catalogue not found: {path}", fix) from None
    except UnreadableFileError as e:
        raise BuildError(f"Cannot read the runtime catalogue {path}", f"{path} {e}.\n\n{fix}") from None
    except UnicodeDecodeError as e:
        raise BuildError(
            f"Invalid runtime catalogue {path}",
            f"It is not UTF-8 text (invalid byte at offset {e.start}).\n\n{fix}",
        ) from None
    try:
        data = toml_io.loads(text)
    except (toml_io.TOMLDecodeError, RecursionError) as e:
        raise BuildError(
            f"Invalid runtime catalogue {path}", f"It is not valid TOML: {e}.\n\n{fix}"
        ) from None
    try:
        catalog = RuntimeCatalog.model_validate(data)
    except ValidationError as e:
        raise BuildError(f"Invalid runtime catalogue {path}", f"{_problems(e)}\n\n{fix}") from None
    catalog._origin = str(path)
    return catalog


def _problems(error: ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False)[:10]:
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            message = "unknown key (expected default, pins, [end_of_life], [stacks.<stack>] tables and [[artifacts]])"
        else:
            message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"- {where}: {message}")
    return "\n".join(lines)
