"""A redeploy with nothing changed: the last build's layers, without running the build again.

A build is a function of what it reads (redeploy/inputs.py) and of the layers the lifecycle
restored. A build that ran no Python of the app's (no hook, no collectstatic, no NLTK, no later
buildpack needing python) and left the app's files as they were records both, with the files
it wrote (redeploy/record.py), in the cache layer `build-record`.

The next build starts here, before the build's own imports (pydantic, the layer modules:
most of a warm builder phase). When every input is the same and the restored layers are the
ones the recorded build left (same metadata; the cached ones with the same files), the full
build would reuse every layer and write the same files: they are written from the record, and
its log lines are printed again, with the sections a reusing build prints in place of the
installs'. Otherwise the full build runs, and its Cache section says what differed.

Standard library and the TOML reader only (no dataclasses: `inspect` alone costs 6 ms): nothing
here may cost what it saves.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import output
from . import record
from .inputs import Inputs, differences, gather, tree_digests

NOT_DIGESTED = "its inputs were not digested"


class _State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.inputs = Inputs({}, NOT_DIGESTED)
        self.why_not = ""  # why the previous build's record did not apply


STATE = _State()
# The sections a build that reuses every layer prints, in order; the record's log has these.
SECTIONS = ("Stack", "Python version", "Installing Python", "Installing dependencies", "Launch", "Cache")


def replay(environ: Mapping[str, str] | None = None) -> bool:
    """Writes the previous build's layers when nothing changed since it; False: build in full."""
    start = time.monotonic()
    STATE.reset()  # a new build in this process
    environ = os.environ if environ is None else environ
    if not environ.get("CNB_LAYERS_DIR") or not environ.get("CNB_BP_PLAN_PATH"):
        return False  # not run by a lifecycle: the full build says so
    layers_dir = Path(environ["CNB_LAYERS_DIR"])
    buildpack_dir = Path(environ.get("CNB_BUILDPACK_DIR") or Path(__file__).resolve().parents[3])
    platform = environ.get("CNB_PLATFORM_DIR", "")
    try:
        STATE.inputs = gather(Path.cwd(), buildpack_dir, Path(platform) if platform else None,
                              Path(environ["CNB_BP_PLAN_PATH"]), environ, datetime.date.today())
        previous = record.load(layers_dir)
        if STATE.inputs.problem or previous is None:
            return False
        changed = differences(previous["inputs"], STATE.inputs.digests)
        STATE.why_not = changed or record.restored_difference(layers_dir, previous)
        if STATE.why_not:
            return False
        try:
            record.apply(layers_dir, previous)
        except BaseException:
            record.undo(layers_dir, previous)
            raise
    except Exception as error:  # a record we cannot use never fails a build: it runs in full
        problem = f"{type(error).__name__}: {error}"
        if STATE.inputs.problem == NOT_DIGESTED:
            STATE.inputs = Inputs({}, f"its inputs could not be digested ({problem})")
        else:
            STATE.why_not = f"it could not be used ({problem})"
        return False
    files = sum(1 for name in STATE.inputs.digests if name.startswith("app:"))
    output.header("Nothing changed")
    output.step(f"The app's {files} file{'s' if files != 1 else ''}, the settings, the stack and the buildpack are "
                "the last build's: its decisions are replayed and every layer is reused, without running the build "
                "again")
    for event in previous["log"]:
        _emit(event)
    output.header(f"Done ({output.format_duration(time.monotonic() - start)})")
    return True


def _emit(event: list[str]) -> None:
    kind, *args = event
    {"header": output.header, "step": output.step, "detail": output.detail,
     "warning": output.warning}[kind](*args)


def finish(layers_dir: Path, app_dir: Path, why_not: str, log: list[list[str]]) -> None:
    """At the end of a full build: records it for the next one, or says why not (`why_not`: the
    build's own reason). One or two lines of the Cache section (none when the build did not start
    with `replay`: a test's)."""
    if STATE.inputs.problem == NOT_DIGESTED:
        record.forget(layers_dir)
        return
    if STATE.why_not:
        output.step(f"The last build's record did not apply: {STATE.why_not}")
    why = why_not or _not_recordable(app_dir, log)
    taken: dict[str, Any] | None = None
    if not why:
        try:
            taken = record.take(layers_dir, STATE.inputs.digests, log)
        except record.NotRecordable as error:
            why = str(error)
    if taken is None:
        record.forget(layers_dir)
        output.step(f"A redeploy with nothing changed runs the build again: {why}")
        return
    record.save(layers_dir, taken)
    output.step("A redeploy with nothing changed reuses these layers without running the build (inputs recorded)")


def _not_recordable(app_dir: Path, log: list[list[str]]) -> str:
    if STATE.inputs.problem:
        return STATE.inputs.problem
    headers = [event[1] for event in log if event[0] == "header"]
    if headers != list(SECTIONS):
        return f"this build's log has the sections {', '.join(headers)}"
    app = {name: value for name, value in STATE.inputs.digests.items() if name.startswith("app:")}
    try:
        now = {f"app:{name}": value for name, value in tree_digests(app_dir).items()}
    except (OSError, ValueError) as error:
        return str(error)
    if now != app:
        return f"the build changed the app's files ({differences(app, now)})"
    return ""
