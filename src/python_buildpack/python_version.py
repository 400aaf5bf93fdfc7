"""Which Python the app asks for, and which version that means on this stack (DESIGN.md §1).

Precedence: runtime.txt (deprecated) > .python-version > Pipfile.lock python_full_version >
Pipfile.lock python_version > the catalogue's default. The first file present decides: a
broken file is an error, never skipped. Pipfile.lock is only read next to a Pipfile, as it
only describes the app when pipenv installs it.

Versions are `X.Y` (a major: the newest patch available on the stack) or `X.Y.Z` (exact).
A `python-` prefix is required in runtime.txt and refused in .python-version, which pyenv,
uv and other tools read as well and would not understand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import BuildError
from .runtime_catalog import (
    FULL_RE,
    MAJOR_RE,
    RuntimeCatalog,
    UnreadableFileError,
    major_of,
    read_bounded,
    version_key,
)
from .stacks import END_OF_LIFE_STACKS

RUNTIME_TXT = "runtime.txt"
PYTHON_VERSION_FILE = ".python-version"
PIPFILE = "Pipfile"
PIPFILE_LOCK = "Pipfile.lock"
DEFAULT = "default"
PREVIOUS_BUILD = "the previous build"  # no version file: the major of the cached runtime

VERSION_FILE_LIMIT = 64 * 1024  # a version file is one line; anything bigger is a mistake
PIPFILE_LOCK_LIMIT = 32 * 1024 * 1024
NEWEST_END_OF_LIFE = (3, 10)  # majors up to this one are refused as end-of-life


@dataclass(frozen=True)
class RequestedVersion:
    major: str  # 3.12
    full: str | None  # 3.12.7 when the app pins a patch
    source: str  # runtime.txt, .python-version, Pipfile.lock or "default"
    raw: str  # the value as written, e.g. python-3.12.7
    key: str = ""  # the entry of a structured source: python_version in Pipfile.lock
    # From runtime.txt only: the valid version of the .python-version it overrides, so that
    # advice about runtime.txt says to delete it rather than overwrite that pin.
    overridden: str | None = field(default=None, compare=False)

    @property
    def version(self) -> str:
        return self.full or self.major

    @property
    def origin(self) -> str:
        """The source as the build log names it: `.python-version`, `Pipfile.lock python_version`."""
        return f"{self.source} {self.key}" if self.key else self.source


@dataclass(frozen=True)
class ResolvedVersion:
    version: str  # the exact version to install
    requested: RequestedVersion
    newest_patch: str | None = None  # set when the app pins an older patch than the stack has


@dataclass(frozen=True)
class VersionWarning:
    title: str
    details: str


# --- reading --------------------------------------------------------------------------


def read_requested_version(app_dir: Path, default: str) -> tuple[RequestedVersion, list[VersionWarning]]:
    """The version the app requests, from the first version source present in `app_dir`."""
    text = _read_text(app_dir / RUNTIME_TXT, VERSION_FILE_LIMIT)
    if text is not None:
        from_runtime_txt = _parse_runtime_txt(text, default, _overridden_pin(app_dir))
        return from_runtime_txt, [_runtime_txt_warning(from_runtime_txt, app_dir)]
    text = _read_text(app_dir / PYTHON_VERSION_FILE, VERSION_FILE_LIMIT)
    if text is not None:
        return _parse_python_version_file(text, default), []
    if (app_dir / PIPFILE).exists():
        text = _read_text(app_dir / PIPFILE_LOCK, PIPFILE_LOCK_LIMIT)
        if text is not None:
            from_lock = _parse_pipfile_lock(text, default)
            if from_lock is not None:
                return from_lock, []
    return RequestedVersion(major=default, full=None, source=DEFAULT, raw=default), []


def _overridden_pin(app_dir: Path) -> str | None:
    """The version a valid .python-version holds, which runtime.txt overrides."""
    try:
        text = _read_text(app_dir / PYTHON_VERSION_FILE, VERSION_FILE_LIMIT)
        return None if text is None else _parse_python_version_file(text, "").raw
    except BuildError:
        return None  # a broken .python-version is no pin to keep


def _read_text(path: Path, limit: int) -> str | None:
    try:
        data = read_bounded(path, limit)
    except FileNotFoundError:
        return None
    except UnreadableFileError as e:
        raise BuildError(
            f"Cannot read {path.name}", f"{path.name} in the app directory {e}. {_expected(path.name)}"
        ) from None
    try:
        return data.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
    except UnicodeDecodeError as e:
        raise BuildError(
            f"{path.name} is not UTF-8 text",
            f"{path.name} contains bytes that are not valid UTF-8 (at offset {e.start}). It may have "
            f"been saved as UTF-16, as PowerShell's `echo` does. {_expected(path.name)}",
        ) from None


def _expected(name: str) -> str:
    if name == PIPFILE_LOCK:
        return "Regenerate it with `pipenv lock` and commit it."
    if name == RUNTIME_TXT:
        return "It must hold one line such as python-3.13; better, replace it with a .python-version file."
    return "It must be a plain text file holding one line such as 3.13."


def _words(text: str) -> list[str]:
    """Whitespace-separated words, without comments: pyenv's version file syntax."""
    words: list[str] = []
    for line in text.splitlines():
        for word in line.split():
            if word.startswith("#"):
                break
            words.append(word)
    return words


def _single_word(name: str, text: str, default: str, overridden: str | None = None) -> str:
    _refuse_slash_comments(name, text)
    words = _words(text)
    if not words:
        raise BuildError(
            f"{name} is empty",
            f"{name} holds no version (only blank lines or comments). {_fix(name, default, overridden)}",
        )
    if len(words) > 1:
        shown = ", ".join(_show(word) for word in words[:5]) + (", ..." if len(words) > 5 else "")
        raise BuildError(
            f"{name} lists several Python versions",
            f"{name} lists {len(words)} values ({shown}), but an app runs on one Python version "
            f"(pyenv allows several in .python-version; this buildpack does not). {_fix(name, default, overridden)}",
        )
    return words[0]


def _refuse_slash_comments(name: str, text: str) -> None:
    """`// note` comments, as in C or JavaScript, would otherwise be read as several versions."""
    lines = text.splitlines()
    fixed = [_hash_comment(line) for line in lines]
    number = next((n for n, (line, new) in enumerate(zip(lines, fixed, strict=True), 1) if line != new), None)
    if number is None:
        return
    shown = [line.strip() for line in fixed if line.strip()][:6]
    raise BuildError(
        f"{name} has a comment starting with //",
        f"Line {number} of {name} ({_show(lines[number - 1].strip())}) holds a // comment, but comments "
        f"in {name} start with #: the words after // would be read as Python versions. Write it as:\n\n"
        + "".join(f"    {line}\n" for line in shown),
    )


def _hash_comment(line: str) -> str:
    """`line` with its first // comment (outside a # comment) starting with # instead."""
    position = 0
    for word in line.split():
        position = line.index(word, position)
        if word.startswith("#"):
            break
        if word.startswith("//"):
            return f"{line[:position]}# {line[position + 2 :].lstrip()}".rstrip()
        position += len(word)
    return line


def _parse_runtime_txt(text: str, default: str, overridden: str | None) -> RequestedVersion:
    raw = _single_word(RUNTIME_TXT, text, default, overridden)
    version = raw.removeprefix("python-")
    if version != raw and _is_version(version):
        return replace(_requested(version, RUNTIME_TXT, raw), overridden=overridden)
    expected = 'a "python-" prefix and a version like python-3.13 or python-3.13.1'
    if _is_version(raw):
        raise _malformed(RUNTIME_TXT, raw, f"{expected} (here: python-{raw})", raw, overridden)
    raise _malformed(RUNTIME_TXT, raw, expected, default, overridden)


def _parse_python_version_file(text: str, default: str) -> RequestedVersion:
    raw = _single_word(PYTHON_VERSION_FILE, text, default)
    if _is_version(raw):
        return _requested(raw, PYTHON_VERSION_FILE, raw)
    expected = "a version like 3.13 or 3.13.1"
    for prefix in ("python-", "python", "cpython-", "cpython"):
        version = raw[len(prefix) :]
        if raw.lower().startswith(prefix) and _is_version(version):
            raise _malformed(PYTHON_VERSION_FILE, raw, f"{expected}, without prefix (here: {version})", version)
    raise _malformed(PYTHON_VERSION_FILE, raw, expected, default)


def _parse_pipfile_lock(text: str, default: str) -> RequestedVersion | None:
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise BuildError(
            "Pipfile.lock is not valid JSON", f"Pipfile.lock cannot be parsed: {e}. {_expected(PIPFILE_LOCK)}"
        ) from None
    meta = data.get("_meta", {}) if isinstance(data, dict) else None
    requires = meta.get("requires", {}) if isinstance(meta, dict) else None
    if not isinstance(requires, dict):
        raise BuildError(
            "Pipfile.lock has an unexpected structure",
            "Pipfile.lock must be a JSON object whose _meta.requires is an object. " + _expected(PIPFILE_LOCK),
        )
    for key in ("python_full_version", "python_version"):
        value = requires.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        where = f"{PIPFILE_LOCK} ({key})"
        if not isinstance(value, str):
            raise BuildError(
                f"Invalid Python version in {where}",
                f'{key} in Pipfile.lock must be a string like "{default}". {_fix(PIPFILE_LOCK, default)}',
            )
        if not _is_version(value.strip()):
            raise _malformed(where, value, "a version like 3.13 or 3.13.1", default)
        return _requested(value.strip(), PIPFILE_LOCK, value, key)
    return None


def _is_version(text: str) -> bool:
    return bool(MAJOR_RE.fullmatch(text) or FULL_RE.fullmatch(text))


def _requested(version: str, source: str, raw: str, key: str = "") -> RequestedVersion:
    if FULL_RE.fullmatch(version):
        return RequestedVersion(major=major_of(version), full=version, source=source, raw=raw, key=key)
    return RequestedVersion(major=version, full=None, source=source, raw=raw, key=key)


def _malformed(where: str, raw: str, expected: str, example: str, overridden: str | None = None) -> BuildError:
    return BuildError(
        f"Invalid Python version in {where}: {_show(raw)}",
        f"{where} contains {_show(raw)}, but it must contain {expected}: only final CPython "
        f"releases, no ranges, pre-releases or other implementations. {_fix(where.split()[0], example, overridden)}",
    )


def _show(value: str) -> str:
    """A value for a message: quoted, control characters escaped, bounded length."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _fix(name: str, version: str, overridden: str | None = None) -> str:
    """How to request `version` instead of what `name` says."""
    if name == RUNTIME_TXT and overridden:
        return (
            "runtime.txt is deprecated and takes precedence over .python-version: delete it, and "
            f".python-version ({overridden}) will then be used:\n\n    $ git rm runtime.txt\n"
        )
    if name == RUNTIME_TXT:
        return (
            "runtime.txt is deprecated: delete it and create a .python-version file holding the "
            f"version instead, for example:\n\n    $ git rm runtime.txt && echo {version} > .python-version\n"
        )
    if name == PIPFILE_LOCK:
        return (
            f'Set python_version = "{version}" in the [requires] section of Pipfile, run '
            "`pipenv lock` and commit both files. Or add a .python-version file holding the "
            f"version, which takes precedence over Pipfile.lock:\n\n    {version}\n"
        )
    if name == DEFAULT:
        return (
            f"Request a version with a .python-version file, for example:\n\n    {version}\n\n"
            "or add this stack to the runtime catalogue."
        )
    return (
        f"Put one version in {name}, for example (a major version gets security updates "
        f"automatically at each build):\n\n    {version}\n"
    )


def _runtime_txt_warning(requested: RequestedVersion, app_dir: Path) -> VersionWarning:
    version, pinned = requested.version, requested.overridden
    if pinned == version:
        details = (
            f"The app's .python-version already holds {version}, which Python tools (pyenv, uv, ...) "
            "read, and which is used once runtime.txt is gone:\n\n    $ git rm runtime.txt\n"
        )
    elif pinned:
        # Never suggest overwriting the pin silently: say what each choice builds with.
        details = (
            f"Python tools (pyenv, uv, ...) read the app's .python-version instead, which holds {pinned} "
            f"and is ignored while runtime.txt exists. Deleting runtime.txt moves the app to {pinned}; "
            f"to keep {version}, write it into .python-version as well:\n\n"
            f"    $ git rm runtime.txt && echo {version} > .python-version\n"
        )
    else:
        details = (
            "Python tools (pyenv, uv, ...) read a .python-version file instead. Replace runtime.txt "
            f"with a .python-version file holding this one line:\n\n    {version}\n\nfor example:\n\n"
            f"    $ git rm runtime.txt && echo {version} > .python-version\n"
        )
    if requested.full:
        details += (
            f"\nWriting just {requested.major} would get the newest {requested.major} patch, "
            "with its security fixes, at each build."
        )
    if not pinned and (app_dir / PYTHON_VERSION_FILE).exists():
        details += "\nThe app also has a .python-version file: it is ignored while runtime.txt exists."
    return VersionWarning("runtime.txt is deprecated", details)


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
    fix = _fix(requested.source, suggestion, requested.overridden)
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
        + _fix(requested.source, requested.major, requested.overridden),
    )


def _requests(requested: RequestedVersion) -> str:
    if requested.source == DEFAULT:
        return f"The runtime catalogue's default is Python {requested.major}."
    return f"{requested.origin} requests Python {_show(requested.raw)}."


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
        said = f"This build uses Python {version} because runtime.txt says {_show(requested.raw)}"
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
            f"This build uses Python {version} because .python-version says {_show(requested.raw)}: "
            f"change it to {acceptable}."
        )
    if requested.source == PIPFILE_LOCK:
        return (
            f"This build uses Python {version} because Pipfile.lock says {requested.key} = "
            f"{_show(requested.raw)}. Add a .python-version file holding {acceptable}, which takes "
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
