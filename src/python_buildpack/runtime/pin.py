"""`python -m python_buildpack.runtime.pin CATALOG`: sha256 pins for every runtime archive.

A release and mirror-operator tool; builds never run it. It downloads each archive the
catalogue lists (every patch, per stack and architecture) from the mirror, streaming it
through sha256 without keeping it, and writes the digests into the catalogue's
`[[artifacts]]` tables in place: the rest of the file (comments, order, other tables) is left
byte for byte. A pin that no longer matches the mirror is a red flag (the same file name with
other bytes): it is reported and kept unless `--accept-changed` says the change is understood.
When every listed archive is pinned, a `pins = "pending"` marker is removed.

Exit status: 0 when every selected archive is pinned and matches, 1 when some are missing on
the mirror or changed (or the mirror failed), 2 when the catalogue or the options are unusable.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import output
from ..cnb import toml_io
from ..errors import BuildError
from ..stacks.table import STACK_ARCHES, STACK_TO_UBUNTU
from .catalog import PIN_COMMAND, Archive, RuntimeCatalog, read_catalog
from .download import MissingArchiveError, archive_sha256
from .mirror import base_url, checked_base_url, runtime_url

_FORMAT = 'the format docs/distribution.md describes ("A private runtime mirror")'
# The editable shape of pins: `[[artifacts]]` tables of one-line `file = "…"` / `sha256 = "…"`.
_HEADER = re.compile(r"\s*\[")
_ARTIFACTS_HEADER = re.compile(r"\s*\[\[\s*artifacts\s*\]\]\s*(#.*)?$")
_PIN_LINE = re.compile(r'(?P<head>\s*(?P<key>file|sha256)\s*=\s*(?P<q>["\']))(?P<value>[^"\']*)(?P=q)')
_PENDING = re.compile(r'\s*pins\s*=\s*["\']pending["\']\s*(#.*)?$')


@dataclass
class Outcome:
    """What one run found, archive by archive."""

    new: dict[str, str] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # file -> (pinned, served)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    failure: BuildError | None = None


def main(argv: Sequence[str] | None = None, *, alias: bool = False) -> int:
    """The command; `alias`: called as `python -m python_buildpack.catalog pin` (its former name)."""
    args = _parser(alias).parse_args(argv)
    try:
        return pin(
            args.catalog,
            base=args.base_url,
            stacks=args.stack,
            arches=args.arch,
            new_only=args.new_only,
            accept_changed=args.accept_changed,
        )
    except BuildError as error:
        output.error(error.title, error.details)
        return 2
    except KeyboardInterrupt:
        output.error("Interrupted", "The catalogue was not changed.")
        return 130


def _parser(alias: bool) -> argparse.ArgumentParser:
    description = (
        "Downloads every archive CATALOG lists (each patch, per stack and architecture), "
        "computes its sha256 and writes it into CATALOG's [[artifacts]] pins in place."
    )
    if alias:
        parent = argparse.ArgumentParser(prog="python -m python_buildpack.catalog",
                                         description="The former name of python -m python_buildpack.runtime.pin.")
        commands = parent.add_subparsers(dest="command", required=True, metavar="COMMAND")
        parser = commands.add_parser("pin", help="write the sha256 of every listed archive into the catalogue",
                                     description=description)
    else:
        parent = parser = argparse.ArgumentParser(prog=PIN_COMMAND, description=description)
    parser.add_argument("catalog", metavar="CATALOG", type=Path, help="runtime catalogue (TOML) to update")
    parser.add_argument(
        "--base-url",
        help="mirror to download from (default: BP_PYTHON_RUNTIME_BASE_URL, else the official mirror)",
    )
    parser.add_argument("--stack", action="append", default=[], choices=sorted(STACK_TO_UBUNTU),
                        help="only this stack (repeatable)")  # fmt: skip
    parser.add_argument("--arch", action="append", default=[], choices=("amd64", "arm64"),
                        help="only this architecture (repeatable)")  # fmt: skip
    parser.add_argument("--new-only", action="store_true",
                        help="download only archives without a pin (existing pins are not re-checked)")  # fmt: skip
    parser.add_argument("--accept-changed", action="store_true",
                        help="replace pins whose archive changed on the mirror (only once you know why)")  # fmt: skip
    return parent


def pin(
    path: Path,
    *,
    base: str | None = None,
    stacks: Sequence[str] = (),
    arches: Sequence[str] = (),
    new_only: bool = False,
    accept_changed: bool = False,
) -> int:
    """The `pin` command; returns the exit status. Raises BuildError for unusable input."""
    path = path.resolve()
    catalog = read_catalog(path, f"Fix {path} to follow {_FORMAT} and run the command again.")
    text = path.read_bytes().decode("utf-8")  # not read_text: it would turn CRLF into LF
    located = _locate_pins(text, path, catalog)
    mirror = checked_base_url(base, "--base-url", "Pass the mirror's base URL.") if base else base_url(os.environ)
    selected = catalog.archives(stacks, arches)
    if not selected:
        raise BuildError(
            "No archive selected",
            f"{path} lists no version for --stack {' '.join(stacks) or '(any)'} with "
            f"--arch {' '.join(arches) or '(any)'}. Architectures per stack: "
            + ", ".join(f"{stack} {'/'.join(a)}" for stack, a in STACK_ARCHES.items())
            + ".",
        )

    output.header(f"Pinning {len(selected)} archives of {path} from {mirror}")
    outcome = _check(catalog, selected, mirror, new_only)
    updates = dict(outcome.new)
    if accept_changed:
        updates |= {file: served for file, (_, served) in outcome.changed.items()}
    pins_after = {artifact.file: artifact.sha256 for artifact in catalog.artifacts} | updates
    unpinned = [a.file for a in catalog.archives() if a.file not in pins_after]
    drop_marker = catalog.pins == "pending" and not unpinned
    edited = _edit(text, located, updates, drop_marker)
    if edited != text:
        _verify(edited, path, pins_after, drop_marker)
        _write(path, edited)
    _report(outcome, path, updates, accept_changed, unpinned, drop_marker, catalog)
    problems = outcome.missing or outcome.failure or (outcome.changed and not accept_changed)
    return 1 if problems else 0


def _check(catalog: RuntimeCatalog, selected: list[Archive], mirror: str, new_only: bool) -> Outcome:
    outcome = Outcome()
    for archive in selected:
        pinned = catalog.sha256_for(archive.file)
        if new_only and pinned:
            continue
        url = runtime_url(mirror, archive.version, STACK_TO_UBUNTU[archive.stack], archive.arch)
        try:
            served = archive_sha256(url)
        except MissingArchiveError as error:
            outcome.missing.append((archive.file, error.reason))
            output.step(f"{archive.file}: MISSING ({error.reason})")
            continue
        except BuildError as error:
            # The mirror itself is failing: stop here, keep what was found so far.
            outcome.failure = error
            break
        if pinned is None:
            outcome.new[archive.file] = served
            output.step(f"{archive.file}: new pin {served}")
        elif pinned == served:
            outcome.unchanged.append(archive.file)
            output.step(f"{archive.file}: unchanged")
        else:
            outcome.changed[archive.file] = (pinned, served)
            output.step(f"{archive.file}: CHANGED (pinned {pinned}, served {served})")
    return outcome


# --- the file, edited in place ---------------------------------------------------------------


def _locate_pins(text: str, path: Path, catalog: RuntimeCatalog) -> dict[str, int]:
    """The line index of each pin's `sha256 = "…"` line, by archive file name.

    Refuses a file whose pins are written in another TOML form (inline tables, multi-line
    strings, ...): the parsed pins must be exactly those found line by line.
    """
    lines = text.splitlines()
    found: dict[str, int] = {}
    values: dict[str, str] = {}
    block: dict[str, tuple[int, str]] | None = None

    def close() -> None:
        if block is not None and "file" in block and "sha256" in block:
            found[block["file"][1]] = block["sha256"][0]
            values[block["file"][1]] = block["sha256"][1].lower()

    for index, line in enumerate(lines):
        if _HEADER.match(line):
            close()
            block = {} if _ARTIFACTS_HEADER.match(line) else None
        elif block is not None and (match := _PIN_LINE.match(line)):
            block[match["key"]] = (index, match["value"])
    close()
    expected = {artifact.file: artifact.sha256 for artifact in catalog.artifacts}
    if values != expected:
        raise BuildError(
            f"Cannot edit the pins of {path}",
            "The command rewrites pins in place and only understands [[artifacts]] tables made of "
            'one-line file = "..." and sha256 = "..." entries, as in the documented format. '
            "Rewrite the pins that way and run the command again.",
        )
    return found


def _edit(text: str, located: dict[str, int], updates: dict[str, str], drop_marker: bool) -> str:
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    for file, digest in updates.items():
        if file in located:
            line = lines[located[file]]
            match = _PIN_LINE.match(line)
            assert match is not None  # _locate_pins found this line with the same pattern
            lines[located[file]] = f"{match['head']}{digest}{match['q']}{line[match.end():]}"
    if drop_marker:
        first_table = next((i for i, line in enumerate(lines) if _HEADER.match(line)), len(lines))
        lines = [line for i, line in enumerate(lines) if i >= first_table or not _PENDING.match(line)]
    added = [(file, digest) for file, digest in updates.items() if file not in located]
    if added:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        for file, digest in added:
            lines += [newline, f"[[artifacts]]{newline}", f'file = "{file}"{newline}', f'sha256 = "{digest}"{newline}']
    return "".join(lines)


def _verify(text: str, path: Path, pins: dict[str, str], drop_marker: bool) -> None:
    """The edited text parses to the intended pins: never write a file builds would reject."""
    try:
        catalog = RuntimeCatalog.model_validate(toml_io.loads(text))
        ok = {a.file: a.sha256 for a in catalog.artifacts} == pins and (catalog.pins is None or not drop_marker)
    except (ValueError, toml_io.TOMLDecodeError):
        ok = False
    if not ok:
        raise BuildError(
            f"Cannot edit the pins of {path}",
            "The edited catalogue would not hold the intended pins, so it was left unchanged. "
            f"Check that it follows {_FORMAT}.",
        )


def _write(path: Path, text: str) -> None:
    """Replaces `path` atomically, keeping its permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- report --------------------------------------------------------------------------------


def _report(
    outcome: Outcome,
    path: Path,
    updates: dict[str, str],
    accept_changed: bool,
    unpinned: list[str],
    drop_marker: bool,
    catalog: RuntimeCatalog,
) -> None:
    output.header("Summary")
    output.step(
        f"{len(outcome.unchanged)} unchanged, {len(outcome.new)} new, {len(outcome.changed)} changed, "
        f"{len(outcome.missing)} missing on the mirror"
    )
    if updates:
        output.step(f"{path}: {len(updates)} pins written")
    if drop_marker:
        output.step(f'{path}: every listed archive is pinned, removed pins = "pending"')
    elif unpinned:
        output.step(f"{_archives(len(unpinned))} listed without a pin")
    listed = {a.file for a in catalog.archives()}
    stale = sorted(a.file for a in catalog.artifacts if a.file not in listed)
    if stale:
        output.step(f"{len(stale)} pins name archives the catalogue no longer lists (kept): {', '.join(stale)}")
    if outcome.changed:
        lines = [
            f"    {file}\n        pinned sha256 {old}\n        served sha256 {new}"
            for file, (old, new) in outcome.changed.items()
        ]
        verdict = (
            "The pins were replaced (--accept-changed)."
            if accept_changed
            else "The old pins were kept. Find out why the archives changed (a rebuilt archive, or a "
            "tampered mirror) before running again with --accept-changed."
        )
        output.error(
            f"{_archives(len(outcome.changed))} changed on the mirror",
            "The same file name now has different bytes:\n" + "\n".join(lines) + f"\n{verdict}",
        )
    if outcome.missing:
        lines = [f"    {file} ({why})" for file, why in outcome.missing]
        output.error(
            f"{_archives(len(outcome.missing))} listed but missing on the mirror",
            "The mirror does not have:\n" + "\n".join(lines) + "\nThe catalogue promises every patch from "
            ".0 to the newest it lists: upload these archives to the mirror, or lower the versions in "
            "the catalogue.",
        )
    if outcome.failure is not None:
        output.error(
            outcome.failure.title,
            f"{outcome.failure.details}\nThe pins found before the failure were written; run the command "
            "again (with --new-only to skip the archives already pinned).",
        )


def _archives(count: int) -> str:
    return f"{count} archive" if count == 1 else f"{count} archives"


if __name__ == "__main__":
    sys.exit(main())
