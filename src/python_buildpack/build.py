"""Build: reads like the build log it prints.

    pre_compile hook → Python version → runtime layer → dependencies → collectstatic →
    post_compile hook → launch settings (WEB_CONCURRENCY, processes)
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import signal
import sys
import time

from . import app_checks, build_env, hooks, output, procfile, python_version, sbom, stack, version_policy
from .cnb import toml_io
from .cnb.context import BuildContext, ContractError
from .cnb.models import LaunchToml
from .errors import BuildError
from .layers import gunicorn, sqlalchemy_urls, tools, web_concurrency
from .layers import nltk as nltk_layer
from .layers import python as python_layer
from .layers import venv as venv_layer
from .runtime_catalog import load_catalog


def run(ctx: BuildContext) -> None:
    build_stack = stack.resolve(ctx)
    output.header("Stack")
    output.step(f"{build_stack.name} ({build_stack.arch}), from {build_stack.source}")
    if build_stack.end_of_life:
        output.warning(
            f"{build_stack.name} is end-of-life",
            f"{build_stack.name} (Ubuntu {build_stack.ubuntu_version}) no longer receives security updates "
            "and gets no new Python releases. Move the app to scalingo-24.",
        )
    settings, env = build_env.sanitize(ctx.env, os.environ)
    ctx = dataclasses.replace(ctx, env=settings)
    app = ctx.app_dir
    procfile.read_procfile(app)  # a malformed Procfile fails now, not after the installs

    if hooks.hook_path(app, "pre_compile").exists():
        output.header("Pre-compile hook")
        hooks.run_hook(app, "pre_compile", env)
    app_checks.check_committed_environments(app)  # after the hook, which may have made one

    output.header("Python version")
    catalog = load_catalog(ctx.env)
    requested, warnings = python_version.read_requested_version(app, catalog.default)
    if requested.source not in (python_version.RUNTIME_TXT, python_version.PYTHON_VERSION_FILE):
        app_checks.check_version_file_names(app)
    previous = python_layer.previous_version(ctx.layers_dir)
    requested = version_policy.sticky(requested, previous, catalog, build_stack.name)
    resolved = python_version.resolve(requested, catalog, build_stack.name)
    first, *rest = python_version.log_lines(resolved)
    output.step(first)
    for line in rest:
        output.detail(line)
    today = datetime.date.today()
    policy = (
        version_policy.missing_file_warning(resolved),
        version_policy.end_of_life_warning(resolved, catalog, build_stack.name, today),
    )
    for warning in [*warnings, *filter(None, policy)]:
        output.warning(warning.title, warning.details)

    output.header("Installing Python")
    # The pinned tools' wheels download meanwhile (layers/tool_wheels.py).
    tools.start_prefetch(ctx.layers_dir, app, build_stack, resolved.version, ctx.env)
    runtime = python_layer.install(ctx, build_stack, resolved.version, catalog)
    sbom.write_runtime_sbom(
        ctx.layers_dir,
        python_layer.LAYER_NAME,
        runtime.version,
        build_stack,
        buildpack_dir=ctx.buildpack_dir,
        archive_sha256=runtime.archive_sha256,
    )
    env = python_layer.build_env(runtime, env)

    from .dependencies import install_dependencies, venv_env

    output.header("Installing dependencies")
    venv = install_dependencies(ctx, build_stack, runtime.home, runtime.version, env, requested=requested)
    env = venv_env(venv, env)
    env.setdefault("PIP_REQUIRE_VIRTUALENV", "1")  # as at launch: see layers/python.py
    nltk_layer.install(app, ctx.layers_dir, venv, ctx.env, env)

    from . import django

    django.collectstatic(app, venv / "bin" / "python", env)

    if hooks.hook_path(app, "post_compile").exists():
        output.header("Post-compile hook")
        hooks.run_hook(app, "post_compile", env)

    # After the hooks: a post_compile hook may install more into the venv.
    sbom.write_venv_sbom(ctx.layers_dir, venv_layer.LAYER_NAME, venv, buildpack_dir=ctx.buildpack_dir)

    output.header("Launch")
    web_concurrency.install(ctx.layers_dir, ctx.buildpack_dir)
    output.step("WEB_CONCURRENCY is set at start from the container's memory (256 MB per process)")
    gunicorn.install(ctx.layers_dir)
    output.step("Gunicorn defaults: FORWARDED_ALLOW_IPS=*, GUNICORN_CMD_ARGS=--access-logfile - (values you set win)")
    mention = sqlalchemy_urls.install(ctx.layers_dir, ctx.buildpack_dir, app)
    if mention:
        output.step(
            f"SQLAlchemy URLs: {mention} mentions sqlalchemy, so each SCALINGO_POSTGRESQL_URL* "
            "gets a postgresql:// copy in *_ALCHEMY_URL at start"
        )
    processes = procfile.launch_processes(app, venv)
    toml_io.dump(LaunchToml(processes=processes).to_toml(), ctx.layers_dir / "launch.toml")


def main() -> int:
    start = time.monotonic()
    # A platform cancels a build with SIGTERM: end it like Ctrl-C, so that half-made layers
    # are removed and the log says why, instead of dying silently.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        ctx = BuildContext.from_env()
        run(ctx)
    except BuildError as error:
        if error.output:
            output.raw(error.output)
        output.error(error.title, error.details)
        return 1
    except ContractError as error:
        output.error("The buildpack was not run by a CNB lifecycle", str(error))
        return 1
    except KeyboardInterrupt:
        output.error("The build was interrupted")
        return 130
    except Exception:  # a bug of ours: say so, and keep the traceback for the report
        import traceback

        output.error(
            "Internal error in the buildpack",
            "This is a bug in scalingo/python, not a problem with your app. Please report it with "
            "this build log. Building again may work, since a failed build changes no cache.",
        )
        traceback.print_exc()
        return 1
    output.header(f"Done ({output.format_duration(time.monotonic() - start)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
