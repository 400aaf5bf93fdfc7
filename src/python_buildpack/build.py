"""Build: reads like the build log it prints.

    pre_compile hook → Python version → runtime layer → dependencies → collectstatic →
    post_compile hook → launch settings (WEB_CONCURRENCY, processes) → cache for the next build

The runtime's and the venv's files are obtained only when a step runs Python (`need`), and
given up at the end when they are the previous image's (caching/on_demand.py, caching/plan.py).
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
import time
from functools import partial

from . import output, process, redeploy
from .app import env_checks, hooks, procfile, source_checks
from .caching import plan as cache_plan
from .cnb import toml_io
from .cnb.context import BuildContext, ContractError, read_platform_env
from .cnb.descriptor import buildpack_version
from .cnb.models import LaunchToml
from .errors import BuildError
from .files import trees
from .layers import gunicorn, sbom, site_layers, sqlalchemy_urls, static_files, tools, web_concurrency
from .layers import nltk as nltk_layer
from .layers import python as python_layer
from .layers import venv as venv_layer
from .project import Project, analyse
from .runtime import selection
from .runtime.catalog import load_catalog
from .stacks import identify
from .step_context import Context


def run(cnb: BuildContext, runner: process.Runner = process.run) -> None:
    since = output.position()
    build_stack = identify.resolve(cnb)
    output.header("Stack")
    output.step(f"{build_stack.name} ({build_stack.arch}), from {build_stack.source}")
    if build_stack.end_of_life:
        output.warning(
            f"{build_stack.name} is end-of-life",
            f"{build_stack.name} (Ubuntu {build_stack.ubuntu_version}) no longer receives security updates "
            "and gets no new Python releases. Move the app to scalingo-24.",
        )
    settings, env = env_checks.sanitize(cnb.settings, os.environ)
    ctx = Context(cnb.app_dir, cnb.layers_dir, cnb.buildpack_dir, settings, runner)
    trees.clear_set_aside(ctx.layers_dir)  # only when a platform kept this layers dir from a build
    processes = procfile.read_procfile(ctx.app_dir)  # a malformed Procfile fails now, not after the installs

    hooks.run_hook(ctx, env, "pre_compile")
    source_checks.check_committed_environments(ctx.app_dir)  # after the hook, which may have made one
    catalog = load_catalog(settings)
    project = analyse(ctx, build_stack, catalog, processes, today=datetime.date.today())

    output.header("Python version")
    _log_version(project)

    later = cache_plan.later_buildpack_requires_python(cnb.buildpack_plan_path)
    layout = site_layers.mode(settings)  # a wrong value fails before anything is installed
    plan = cache_plan.decide(ctx.app_dir, settings, project.nltk_corpora is not None, later)

    from . import dependencies
    from .app import django

    output.header("Installing Python")
    runtime = python_layer.Runtime(python_layer.LAYER.layer(ctx.layers_dir).path, project.python_version, build_stack)
    installing = dependencies.will_install(ctx, project)
    if installing:  # the tool's wheel downloads meanwhile, unless cached (tool_wheels.py)
        tools.start_prefetch(ctx, project.installer.name, runtime)
    static = None
    if cache_plan.COLLECTSTATIC in plan.runs_python:  # its output may be put back without Python
        version = buildpack_version(ctx.buildpack_dir)
        user_env = read_platform_env(cnb.platform_dir)
        static = static_files.prepare(ctx, user_env, dependencies.expected_venv(ctx, project), installing, version)
        if static.replay is not None:
            plan = plan.replaying(cache_plan.COLLECTSTATIC)
    runtime = python_layer.install(ctx, env, build_stack, project.python_version, catalog, plan)
    runtime_sbom = sbom.sbom_path(ctx.layers_dir, python_layer.LAYER_NAME)
    if runtime.files is None or runtime.files.has_files or not runtime_sbom.is_file():
        sbom.write_runtime_sbom(ctx.layers_dir, python_layer.LAYER_NAME, runtime.version, build_stack,
                                buildpack_dir=ctx.buildpack_dir, archive_sha256=runtime.archive_sha256)

    output.header("Installing dependencies")
    venv = dependencies.install(ctx, env, project, runtime, plan)

    def need_python() -> None:
        runtime.need(env)
        venv.files.need(env)

    if plan.runs_python_now:  # the steps below run the app's Python
        need_python()
    nltk_layer.install(ctx, env, venv.path, project.nltk_corpora)
    collect = partial(django.collectstatic, ctx, env, venv.path / "bin" / "python")
    static_files.collect(ctx, static, venv.path, collect, need_python)
    hooks.run_hook(ctx, env, "post_compile")

    # After the hooks: a post_compile hook may install more into the venv.
    if venv.files.has_files or not sbom.sbom_path(ctx.layers_dir, venv_layer.LAYER_NAME).is_file():
        sbom.write_venv_sbom(ctx.layers_dir, venv_layer.LAYER_NAME, venv.path, buildpack_dir=ctx.buildpack_dir,
                             extra_sites=site_layers.layer_sites(venv.path))
    _launch(ctx, static_files.has_gunicorn(static, venv.path, venv.files.has_files))

    output.header("Cache")
    output.step(plan.describe(project.installer.name))
    python_layer.finish(ctx.layers_dir, runtime, plan)
    venv_layer.finish(ctx.layers_dir, venv, plan, layout)
    tools.finish(ctx.layers_dir, {"pip", project.installer.name}, runtime, plan)
    redeploy.finish(ctx.layers_dir, ctx.app_dir, _not_replayable(plan, project),
                    _reusing_log(output.transcript(since), ctx, project, runtime, plan))


def _not_replayable(plan: cache_plan.CachePlan, project: Project) -> str:
    """Why the next build with the same inputs must run (not print this build's log again), or ''."""
    if plan.runs_python:
        return f"{', '.join(plan.runs_python)} at every build"
    if project.resolved.requested.source == selection.DEFAULT:  # the next says "from the previous build"
        return "with no Python version file, the next build takes this one's Python version"
    return ""


def _reusing_log(log: list[list[str]], ctx: Context, project: Project, runtime: python_layer.Runtime,
                 plan: cache_plan.CachePlan) -> list[list[str]]:
    """This build's log as a build with the same inputs that reuses every layer prints it: the
    sections that install say what they reuse (the reusing build's own lines), the others are
    this build's."""
    from . import dependencies

    with output.captured() as choice:
        dependencies.log_choice(ctx, project)
    expected = dependencies.expected_venv(ctx, project)
    reused = {
        "Installing Python": [["step", python_layer.reused_line(runtime.version)]],
        "Installing dependencies": [*choice, ["step", dependencies.reused_line(expected)]],
        "Cache": [["step", plan.describe(project.installer.name)]],
    }
    reusing: list[list[str]] = []
    section = ""
    for event in log:
        if event[0] == "header":
            section = event[1]
            reusing += [event, *reused.get(section, [])]
        elif section not in reused:
            reusing.append(event)
    return reusing


def _log_version(project: Project) -> None:
    first, *rest = selection.log_lines(project.resolved)
    output.step(first)
    for line in rest:
        output.detail(line)
    for warning in project.version_warnings:
        output.warning(warning.title, warning.details)


def _launch(ctx: Context, has_gunicorn: bool) -> None:
    output.header("Launch")
    web_concurrency.install(ctx)
    output.step("WEB_CONCURRENCY is set at start from the container's memory (256 MB per process)")
    gunicorn.install(ctx)
    output.step("Gunicorn defaults: FORWARDED_ALLOW_IPS=*, GUNICORN_CMD_ARGS=--access-logfile -, "
                "XDG_RUNTIME_DIR=/tmp (values you set win)")
    mention = sqlalchemy_urls.install(ctx)
    if mention:
        output.step(
            f"SQLAlchemy URLs: {mention} mentions sqlalchemy, so each SCALINGO_POSTGRESQL_URL* "
            "gets a postgresql:// copy in *_ALCHEMY_URL at start"
        )
    # Read again: a build hook may have written or changed the Procfile since the analysis.
    processes = procfile.launch_processes(ctx.app_dir, has_gunicorn)
    toml_io.dump(LaunchToml(processes=processes).to_toml(), ctx.layers_dir / "launch.toml")


def main() -> int:
    start = time.monotonic()
    # A platform cancels a build with SIGTERM: end it like Ctrl-C, so that half-made layers
    # are removed and the log says why, instead of dying silently.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        ctx = BuildContext.from_env()
        run(ctx)
        trees.wait()  # deletions still under way (a replaced venv): part of the build's time
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
