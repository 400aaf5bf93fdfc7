"""The files where an app asks for a Python version, parsed (README, "Python version").

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

from ..errors import BuildError
from ..files.safe_read import UnreadableFileError, read_bounded
from .version_numbers import FULL_RE, MAJOR_RE, major_of

RUNTIME_TXT = "runtime.txt"
PYTHON_VERSION_FILE = ".python-version"
PIPFILE = "Pipfile"
PIPFILE_LOCK = "Pipfile.lock"
DEFAULT = "default"

VERSION_FILE_LIMIT = 64 * 1024  # a version file is one line; anything bigger is a mistake
PIPFILE_LOCK_LIMIT = 32 * 1024 * 1024


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
class VersionWarning:
    title: str
    details: str


# --- reading ----------------------------------------------------------------------------


def read_requested_version(
    app_dir: Path, default: str, *, pipenv: bool
) -> tuple[RequestedVersion, list[VersionWarning]]:
    """The version the app requests, from the first version source present in `app_dir`;
    Pipfile.lock is one when pipenv installs the app (the package manager's choice says)."""
    text = _read_text(app_dir / RUNTIME_TXT, VERSION_FILE_LIMIT)
    if text is not None:
        from_runtime_txt = _parse_runtime_txt(text, default, _overridden_pin(app_dir))
        return from_runtime_txt, [_runtime_txt_warning(from_runtime_txt, app_dir)]
    text = _read_text(app_dir / PYTHON_VERSION_FILE, VERSION_FILE_LIMIT)
    if text is not None:
        return _parse_python_version_file(text, default), []
    if pipenv:
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
            f"{name} holds no version (only blank lines or comments). {how_to_request(name, default, overridden)}",
        )
    if len(words) > 1:
        shown = ", ".join(show(word) for word in words[:5]) + (", ..." if len(words) > 5 else "")
        raise BuildError(
            f"{name} lists several Python versions",
            f"{name} lists {len(words)} values ({shown}), but an app runs on one Python version "
            "(pyenv allows several in .python-version; this buildpack does not). "
            + how_to_request(name, default, overridden),
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
        f"Line {number} of {name} ({show(lines[number - 1].strip())}) holds a // comment, but comments "
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
                f'{key} in Pipfile.lock must be a string like "{default}". {how_to_request(PIPFILE_LOCK, default)}',
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
        f"Invalid Python version in {where}: {show(raw)}",
        f"{where} contains {show(raw)}, but it must contain {expected}: only final CPython "
        "releases, no ranges, pre-releases or other implementations. "
        + how_to_request(where.split()[0], example, overridden),
    )


def show(value: str) -> str:
    """A value for a message: quoted, control characters escaped, bounded length."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def how_to_request(name: str, version: str, overridden: str | None = None) -> str:
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
