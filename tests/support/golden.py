"""Golden logs: a section of a build log, normalised, compared exactly with a file.

    text = normalise(section(log, "Installing dependencies"), known={str(cache): "<cache>"})
    assert_golden(text, "pip-cold")  # tests/e2e/golden/pip-cold.txt

`section` cuts one `## Title` section out of a log (from its header to the next `## ` header).
`normalise` replaces what changes from run to run, and nothing else, so that any change of
wording still breaks the comparison:

- durations: `(1.2s)`, `(205ms)`, `(1m 5s)` → `(<t>)`, and the installers' `in 414ms` → `in <t>`;
- byte counts `(103 kB)`, `(21.3KiB)` → `(<size>)`, and speeds `1.2 MB/s` → `<speed>`;
- the files and bytes a tool's own cache pruning reports, `(275 files, 3.4MiB;` → `(<n> files,
  <size>;` (what uv keeps of a download varies with what it fetched on the way);
- the values the caller knows to be run-dependent (`known`: temp dirs, cache dirs, the test
  interpreter's version, dates) → the caller's placeholders, whole tokens only;
- what pip resolves from the live index for requirements an app does not pin: the version and
  tags in `Downloading flask-3.1.3-py3-none-any.whl` and the versions in `Successfully
  installed flask-3.1.3` → `flask-<v>-<tags>.whl`, `flask-<v>` (a lock file's versions, as uv,
  poetry and pipenv print them, stay as they are);
- the order of poetry's `- Installing name (1.2.3)` lines: its installer works in parallel and
  prints each package as it completes, so each run of such lines is sorted;
- trailing whitespace (the build indents the blank lines of an installer's output).

`assert_golden` compares with `<directory>/<name>.txt` and shows a unified diff on mismatch.
With `UPDATE_GOLDEN=1` in the environment it writes the file instead, and the test passes.
"""

from __future__ import annotations

import difflib
import os
import platform
import re
from collections.abc import Mapping
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "e2e" / "golden"
UPDATE_VARIABLE = "UPDATE_GOLDEN"
# The runtime the e2e builds install is the test interpreter: its version is run-dependent.
TEST_PYTHON = {platform.python_version(): "<python-version>", platform.python_version().rsplit(".", 1)[0]: "<python-major>"}

_DURATION = r"(?:\d+m \d+s|\d+(?:\.\d+)?(?:ms|s))"
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\({_DURATION}\)"), "(<t>)"),
    (re.compile(rf"(?<= in ){_DURATION}(?![\w.])"), "<t>"),
    (re.compile(r"\(\d+(?:\.\d+)? ?(?:bytes|[kKMG]i?B)\)"), "(<size>)"),
    (re.compile(r"\d+(?:\.\d+)? ?[kKMG]i?B/s\b"), "<speed>"),
    (re.compile(r"\(\d+ files?, \d+(?:\.\d+)? ?(?:bytes|[kKMG]i?B);"), "(<n> files, <size>;"),
    # The pip that the test interpreter bundles for ensurepip, which the buildpack names at launch.
    (re.compile(r"(?<=the runtime's pip )\d+(?:\.\d+)+(?= in the container)"), "<bundled>"),
]
# pip's lines about what it fetched: `Downloading name-1.2.3-py3-none-any.whl (103 kB)`.
_PIP_FETCH = re.compile(r"^(\s+(?:Downloading|Using cached) )([A-Za-z0-9_.]+?)-\d[^-\s]*(-\S+\.whl|\.tar\.gz|\.zip)")
_PIP_INSTALLED = re.compile(r"^(\s+Successfully installed )(.+)$")
_DISTRIBUTION = re.compile(r"^(.+)-\d[^-\s]*$")
# poetry's per-package operation lines, printed in completion order by its parallel installer.
_POETRY_OPERATION = re.compile(r"^\s+- (?:Installing|Updating|Downgrading|Removing) \S+ \(")


def section(log: str, title: str) -> str:
    """The `## {title}` section of `log`: its header line up to the next `## ` header, without
    the blank lines that end it. Fails unless the log has that section exactly once."""
    lines = log.splitlines()
    header = f"## {title}"
    starts = [i for i, line in enumerate(lines) if line == header]
    assert len(starts) == 1, f"{len(starts)} {header!r} headers in the log:\n{log}"
    start = starts[0]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).rstrip() + "\n"


def normalise(text: str, known: Mapping[str, str] | None = None) -> str:
    """`text` with its run-dependent values replaced by placeholders (see the module's docstring)."""
    for value, placeholder in sorted((known or {}).items(), key=lambda item: -len(item[0])):
        text = re.sub(rf"(?<![\w.]){re.escape(value)}(?!\w|\.\d)", placeholder.replace("\\", r"\\"), text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    lines = _sort_operation_runs([_pip_versions(line).rstrip() for line in text.splitlines()])
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _sort_operation_runs(lines: list[str]) -> list[str]:
    result: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if _POETRY_OPERATION.match(line):
            run.append(line)
            continue
        result.extend(sorted(run))
        run = []
        result.append(line)
    return result[:-1]


def _pip_versions(line: str) -> str:
    fetched = _PIP_FETCH.match(line)
    if fetched:
        prefix, name, suffix = fetched.groups()
        tail = "-<tags>.whl" if suffix.endswith(".whl") else suffix
        return f"{prefix}{name}-<v>{tail}{line[fetched.end() :]}"
    installed = _PIP_INSTALLED.match(line)
    if installed:
        names = [_DISTRIBUTION.sub(r"\1-<v>", item) for item in installed.group(2).split()]
        return installed.group(1) + " ".join(names)
    return line


def assert_golden(actual: str, name: str, directory: Path = GOLDEN_DIR) -> None:
    """`actual` equals `<directory>/<name>.txt`; with UPDATE_GOLDEN=1, (re)writes that file."""
    path = directory / f"{name}.txt"
    if os.environ.get(UPDATE_VARIABLE) == "1":
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.is_file():
        raise AssertionError(f"no golden file {path}: run the test with {UPDATE_VARIABLE}=1 to write it\n{actual}")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True), f"{path.name} (golden)", "this build"
        )
        raise AssertionError(
            f"the log differs from {path} (if the change is intended: {UPDATE_VARIABLE}=1 rewrites it)\n"
            + "".join(diff)
        )


def assert_section(log: str, title: str, name: str, known: Mapping[str, str] | None = None,
                   directory: Path = GOLDEN_DIR) -> None:
    """The `## {title}` section of `log`, normalised, equals the golden file `name`."""
    assert_golden(normalise(section(log, title), known), name, directory)
