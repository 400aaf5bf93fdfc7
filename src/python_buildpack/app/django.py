"""Django: `python manage.py collectstatic --noinput` after the dependencies are installed.

Static files are collected into the app dir (STATIC_ROOT), so they are part of the image.
Whether the app uses static files at all is learnt from Django itself: rather than import
the settings in a probe (which would run the app's settings code twice), collectstatic runs
once and its two "not configured for this" refusals become skips with a log line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from .. import output
from ..errors import BuildError
from ..step_context import Context

COMMAND = ("manage.py", "collectstatic", "--noinput")
SHOWN = "python manage.py collectstatic --noinput"
# Values of DISABLE_COLLECTSTATIC that do not disable it; any other non-empty value does.
_NOT_DISABLED = {"", "0", "false", "no", "off"}
# Django's own refusals when an app does not use static files, and what they mean.
_SKIPS = {
    "Unknown command: 'collectstatic'": "'django.contrib.staticfiles' is not in INSTALLED_APPS",
    "without having set the STATIC_ROOT setting": "the STATIC_ROOT setting is not set",
}
# manage.py's `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "<project>.settings")`.
_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["'](?P<module>[A-Za-z_][\w.]*)["']""")


def django_installed(ctx: Context, env: Mapping[str, str], python: Path) -> bool:
    """Whether `python` can import Django: a look at its site-packages, else a probe (through
    the build's runner, quietly, with the build's environment)."""
    prefix = python.parent.parent  # venvs and runtime installs alike: <prefix>/bin/python
    site_dirs = list(prefix.glob("lib/python3*/site-packages"))
    if site_dirs:
        return any((d / "django" / "__init__.py").is_file() for d in site_dirs)
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('django') is None)"
    try:
        return ctx.run([python, "-c", probe], env, ctx.app_dir, echo=None).returncode == 0
    except OSError:
        return False


def django_project(app_dir: Path) -> str | None:
    """The package holding the Django project's `wsgi.py`, next to `manage.py`, if one is found."""
    manage = app_dir / "manage.py"
    if not manage.is_file():
        return None
    try:
        source = manage.read_text(encoding="utf-8", errors="replace")
    except OSError:
        source = ""
    match = _SETTINGS.search(source)
    if match:
        package = match["module"].split(".")[0]
        if (app_dir / package / "wsgi.py").is_file():
            return package
    candidates = sorted(p.parent.name for p in app_dir.glob("*/wsgi.py") if p.parent.name.isidentifier())
    return candidates[0] if len(candidates) == 1 else None


def collectstatic(ctx: Context, env: Mapping[str, str], python: Path) -> bool:
    """Collects the static files of a Django app, its output streamed; returns whether it did."""
    app_dir = ctx.app_dir
    has_manage_py = (app_dir / "manage.py").is_file()
    disabled = env.get("DISABLE_COLLECTSTATIC", "")
    if disabled.strip().lower() not in _NOT_DISABLED:  # first: the venv's files need not be there
        if has_manage_py or django_installed(ctx, env, python):
            output.step(f"Skipping collectstatic: DISABLE_COLLECTSTATIC={disabled} is set")
        return False
    if not django_installed(ctx, env, python):
        if has_manage_py:
            output.step("manage.py found but Django is not installed: skipping collectstatic")
        return False
    if not has_manage_py:
        # Django may only be a dependency of another framework's app, or the project may live
        # in a subdirectory: either way, say why nothing was collected.
        output.step("Django is installed but there is no manage.py at the root of the app: skipping collectstatic")
        return False

    output.step(f"Running {SHOWN}")
    start = time.monotonic()
    try:
        result = ctx.run([python, *COMMAND], env, app_dir, echo=output.raw)
    except OSError as error:
        raise BuildError(
            "Cannot run collectstatic",
            f"{python} could not be started ({error.strerror or error}).",
        ) from error
    if result.returncode != 0:
        for marker, reason in _SKIPS.items():
            if result.matches(re.escape(marker)):
                output.detail(f"Skipped: {reason}, so there are no static files to collect")
                return False
        raise _failure(result.lines, result.returncode)
    output.detail(f"done ({output.format_duration(time.monotonic() - start)})")
    return True


def _failure(lines: list[str], status: int) -> BuildError:
    """The error after a failed collectstatic, whose output streamed just above."""
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    said = f"\nDjango's error:\n\n    {last}\n" if last else ""
    return BuildError(
        "collectstatic failed",
        f"`{SHOWN}` exited with status {status}.{said}\n"
        "It runs during the build, where only the build environment exists: settings that "
        "need a database, a service or a run-time variable fail here. Give such settings a "
        "default for the build, or fix the error above. To skip this step, set "
        "DISABLE_COLLECTSTATIC=1 (static files must then be collected another way).",
    )
