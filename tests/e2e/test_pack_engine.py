"""End to end in containers: `pack build` with the stand-in builders on a Docker daemon, `docker run`.

What users and platforms do, on the container tier of dev/docker: real cgroup memory limits
for WEB_CONCURRENCY, redeploys through the daemon's volume cache, publishing to a registry with
a cache image and building again on a clean daemon, rebase, a later buildpack that requires
python, the three kinds of build image, graceful stop and a hardened container. The stand-in
images and builders are made once per session (`pack_engine` in tests/conftest.py); every test
builds its own copy of an app into its own image and cache volumes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
from support.builds import APPS, BUILDPACK_DIR, PYTHON_VERSION
from support.containers import PackEngine, get_until, serving
from support.serving import free_port

from python_buildpack.cnb import toml_io
from python_buildpack_dev.pack.builders import lifecycle_archive
from python_buildpack_dev.pack.daemon import Docker
from python_buildpack_dev.pack.engine import HARDENED, PackBuild, RunOptions
from python_buildpack_dev.pack.stand_ins import Variant, run_image_name
from python_buildpack_dev.platform.phases import BuildResult
from python_buildpack_dev.platform.registry import local_registry

pytestmark = pytest.mark.e2e

FLASK = BUILDPACK_DIR / "examples" / "flask-pip"
INSTALLERS = ("Installing dependencies with", "Installing pip", "Collecting ")
MIB = 1024 * 1024


def copy_app(source: Path, tmp_path: Path, name: str = "app") -> Path:
    app = tmp_path / name
    shutil.copytree(source, app)
    return app


def built(build: PackBuild, app: Path, **kwargs: bool) -> BuildResult:
    result = build.build(app, **kwargs)
    assert result.ok, result.output
    return result


@pytest.fixture(scope="module")
def flask(pack_engine: PackEngine, tmp_path_factory: pytest.TempPathFactory) -> tuple[PackBuild, Path, BuildResult]:
    """The bundled example, built cold once for the launch tests."""
    app = copy_app(FLASK, tmp_path_factory.mktemp("flask"))
    build = pack_engine.app(app)
    return build, app, built(build, app, clear_cache=True)


def test_cold_build_answers_http(pack_engine: PackEngine, flask: tuple[PackBuild, Path, BuildResult]) -> None:
    build, _, cold = flask
    assert f"Installing Python {PYTHON_VERSION}" in cold.output
    assert "Installing dependencies with pip" in cold.output
    for layer in ("python", "venv", "web-concurrency", "gunicorn"):
        assert f"Adding layer 'scalingo/python:{layer}'" in cold.output
    assert [phase.phase for phase in cold.phases] == ["pack", "analyze", "detect", "restore", "build", "export"]
    with serving(pack_engine.container(build.image), "cold-http", RunOptions(memory="1g")) as (port, proc):
        status, body = get_until(f"http://127.0.0.1:{port}/", proc)
    assert status == 200 and f"Hello from Python {PYTHON_VERSION} (WEB_CONCURRENCY=4)" in body, body


CONCURRENCY = [("256m", "1 256"), ("512m", "2 512"), ("1g", "4 1024"), ("2g", "8 2048"), ("4g", "16 4096")]
PROBE = ["bash", "-c", 'echo "${WEB_CONCURRENCY-unset} ${DYNO_RAM-unset} ${WEB_CONCURRENCY_SET_BY-unset}"']


@pytest.mark.parametrize(("memory", "expected"), CONCURRENCY)
def test_web_concurrency_from_the_cgroup_limit(pack_engine: PackEngine, flask: tuple[PackBuild, Path, BuildResult],
                                              memory: str, expected: str) -> None:
    done = pack_engine.container(flask[0].image).run(PROBE, RunOptions(memory=memory))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [*expected.split(), "scalingo/python"], done.stdout + done.stderr


def test_web_concurrency_without_limit_or_set_by_the_user(pack_engine: PackEngine,
                                                          flask: tuple[PackBuild, Path, BuildResult]) -> None:
    container = pack_engine.container(flask[0].image)
    unlimited = container.run(PROBE)
    assert unlimited.stdout.split() == ["unset", "unset", "unset"], unlimited.stdout + unlimited.stderr
    user_set = container.run(PROBE, RunOptions(memory="1g", env={"WEB_CONCURRENCY": "3"}))
    assert user_set.stdout.split()[0] == "3", user_set.stdout + user_set.stderr
    assert user_set.stdout.split()[2] == "unset"


def test_docker_stop_is_a_graceful_exit(pack_engine: PackEngine, flask: tuple[PackBuild, Path, BuildResult]) -> None:
    container = pack_engine.container(flask[0].image)
    with serving(container, "graceful-stop", RunOptions(memory="512m")) as (port, proc):
        get_until(f"http://127.0.0.1:{port}/", proc)
        container.stop("graceful-stop", timeout=20)
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, out
    assert "Shutting down: Master" in out, out


def test_hardened_container(pack_engine: PackEngine, flask: tuple[PackBuild, Path, BuildResult]) -> None:
    """An arbitrary uid in group 0, read-only root with a tmpfs /tmp, no capabilities, no privilege
    gain: the app answers and its start log has no error (gunicorn's control socket included)."""
    container = pack_engine.container(flask[0].image)
    options = RunOptions(memory="512m", user=HARDENED.user, read_only=True, cap_drop_all=True,
                         no_new_privileges=True)
    with serving(container, "hardened", options) as (port, proc):
        status, body = get_until(f"http://127.0.0.1:{port}/", proc)
        container.stop("hardened")
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert status == 200 and "WEB_CONCURRENCY=2" in body, body
    errors = [line for line in out.splitlines() if "error" in line.lower() or "Traceback" in line]
    assert not errors, out
    assert "Booting worker" in out, out


def test_warm_rebuild_reuses_every_layer(pack_engine: PackEngine, tmp_path: Path) -> None:
    """Through pack's five-phase flow (a builder it does not trust): each phase in its own container."""
    app = copy_app(FLASK, tmp_path)
    build = pack_engine.app(app, trusted=False)
    cold = built(build, app)
    assert "Using untrusted builder" in cold.output, cold.output
    warm = built(build, app)
    assert warm.build is not None
    assert "Using cached Python" in warm.output and "Using cached dependencies" in warm.output
    assert not any(marker in warm.build.output for marker in INSTALLERS), warm.build.output
    for layer in ("python", "venv", "web-concurrency", "gunicorn", "python-archive"):
        assert f"Reusing layer 'scalingo/python:{layer}'" in warm.output, warm.output
    assert "Adding layer 'scalingo/python:" not in warm.output


def test_one_package_added_updates_the_venv(pack_engine: PackEngine, tmp_path: Path) -> None:
    app = copy_app(FLASK, tmp_path)
    build = pack_engine.app(app)
    built(build, app)
    requirements = app / "requirements.txt"
    requirements.write_text(requirements.read_text() + "six==1.17.0\n")
    changed = built(build, app)
    assert "Using cached Python" in changed.output
    assert "Updating cached dependencies since requirements.txt changed" in changed.output, changed.output
    assert "Reusing layer 'scalingo/python:python'" in changed.output
    assert "Adding layer 'scalingo/python:venv'" in changed.output
    done = pack_engine.container(build.image).run(["python", "-c", "import six, flask; print(six.__version__)"])
    assert done.stdout.strip() == "1.17.0", done.stdout + done.stderr
    # No pip in the image's venv: `pip` runs the runtime's bundled wheel, on the app's venv.
    pip = pack_engine.container(build.image).run(["bash", "-c", "pip --version && python -m pip list --format=freeze"])
    assert re.match(r"pip \S+ from /layers/scalingo_python/python/lib/python3\.\d+/ensurepip/_bundled/", pip.stdout), pip
    assert "six==1.17.0" in pip.stdout.split(), pip.stdout + pip.stderr


def test_a_split_venv_runs_in_the_container_and_a_pin_change_rewrites_one_layer(
    pack_engine: PackEngine, tmp_path: Path
) -> None:
    """BP_PYTHON_VENV_LAYERS=split (what a large venv gets): the venv's distributions in `site-*`
    layers, found through its .pth file in the container; a changed pin adds one of them."""
    app = copy_app(FLASK, tmp_path)
    (app / "requirements.txt").write_text("flask==3.1.3\ngunicorn==23.0.0\nsix==1.16.0\n")
    build = pack_engine.app(app, env={"BP_PYTHON_VENV_LAYERS": "split"})
    cold = built(build, app)
    layers = re.findall(r"Adding layer 'scalingo/python:(site-[\w-]+)'", cold.output)
    assert len(layers) >= 3, cold.output
    (app / "requirements.txt").write_text("flask==3.1.3\ngunicorn==23.0.0\nsix==1.17.0\n")
    changed = built(build, app)
    assert len(re.findall(r"Adding layer 'scalingo/python:site-", changed.output)) == 1, changed.output
    assert len(re.findall(r"Reusing layer 'scalingo/python:site-", changed.output)) == len(layers) - 1
    code = "import six, flask, gunicorn, importlib.metadata as m; print(six.__version__, m.version('flask'))"
    done = pack_engine.container(build.image).run(["python", "-c", code])
    assert done.stdout.strip() == "1.17.0 3.1.3", done.stdout + done.stderr
    with serving(pack_engine.container(build.image), "split-venv", RunOptions(memory="512m")) as (port, proc):
        status, body = get_until(f"http://127.0.0.1:{port}/", proc)
    assert status == 200, body


def test_publish_with_a_cache_image_then_build_on_a_clean_daemon(pack_engine: PackEngine, tmp_path: Path) -> None:
    """A platform's CI: images and cache in a registry, every build on a fresh daemon. The second
    build restores everything from the cache image: no runtime download, no installer."""
    docker = pack_engine.docker
    try:
        registry = local_registry()
        served = registry.__enter__()
    except FileNotFoundError:
        pytest.skip("no docker-registry (dev/docker start installs it)")
    try:
        run_image = f"{served.address}/scalingo-python-dev/run:scalingo-22"
        docker.run("tag", run_image_name("scalingo-22"), run_image)
        docker.run("push", run_image)
        app = copy_app(FLASK, tmp_path)
        image = f"{served.address}/apps/flask"
        build = pack_engine.app(app, publish=True, cache_image=f"{served.address}/apps/flask-cache",
                                run_image=run_image)
        build.image = image
        first = built(build, app)
        assert "Installing dependencies with pip" in first.output
        docker.remove_images([image, run_image])
        build.remove()
        second = built(build, app)
        assert "Using cached Python" in second.output and "Using cached dependencies" in second.output
        assert "Downloading" not in second.output and not any(m in second.output for m in INSTALLERS), second.output
        assert 'Restoring data for "scalingo/python:venv-packed" from cache' in second.output
        assert "Reusing layer 'scalingo/python:venv'" in second.output  # from the published image
        docker.run("pull", image)
        with serving(pack_engine.container(image), "published") as (port, proc):
            status, _ = get_until(f"http://127.0.0.1:{port}/", proc)
        assert status == 200
    finally:
        docker.remove_images([f"{served.address}/apps/flask", run_image])
        registry.__exit__(None, None, None)


def test_rebase_onto_a_new_run_image(pack_engine: PackEngine, tmp_path: Path) -> None:
    """A stack update: a new run image under the name the app records, then `pack rebase`."""
    docker = pack_engine.docker
    run_image = "scalingo-python-dev/run:scalingo-22-rebase-test"
    docker.run("tag", run_image_name("scalingo-22"), run_image)
    app = copy_app(FLASK, tmp_path)
    build = pack_engine.app(app, run_image=run_image)
    built(build, app)
    context = tmp_path / "run-update"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {run_image}\nLABEL io.scalingo.test.update=2\n")
    done = subprocess.run(["docker", "build", "-q", "-t", run_image, str(context)], capture_output=True, text=True,
                          env=docker.env({"DOCKER_BUILDKIT": "0"}), check=False)
    assert done.returncode == 0, done.stderr
    new_top = docker.inspect("image", run_image)["RootFS"]["Layers"][-1]  # type: ignore[index]
    assert pack_engine.tools.pack is not None
    rebase = subprocess.run([str(pack_engine.tools.pack), "rebase", build.image, "--pull-policy", "never"],
                            capture_output=True, text=True, env=docker.env({"PACK_HOME": str(tmp_path / "pack")}),
                            check=False)
    assert rebase.returncode == 0, rebase.stdout + rebase.stderr
    image = docker.inspect("image", build.image)
    assert image is not None and new_top in image["RootFS"]["Layers"]
    assert image["Config"]["Labels"].get("io.scalingo.test.update") is None  # the app's labels, not the run image's
    try:
        with serving(pack_engine.container(build.image), "rebased") as (port, proc):
            status, body = get_until(f"http://127.0.0.1:{port}/", proc)
        assert status == 200 and "Hello from Python" in body
    finally:
        docker.remove_images([run_image])


def test_django_collectstatic_on_scalingo_24(pack_engine: PackEngine, tmp_path: Path) -> None:
    app = copy_app(APPS / "django-gunicorn", tmp_path)
    build = pack_engine.app(app, stack="scalingo-24")
    result = built(build, app)
    assert "scalingo-24 (amd64), from target ubuntu 24.04" in result.output, result.output
    assert "Running python manage.py collectstatic --noinput" in result.output, result.output
    assert "static file copied to '/workspace/staticfiles'" in result.output
    container = pack_engine.container(build.image)
    listed = container.run(["bash", "-c", "ls staticfiles/css"])
    assert listed.returncode == 0 and listed.stdout.split(), listed.stdout + listed.stderr
    with serving(container, "django") as (port, proc):
        status, body = get_until(f"http://127.0.0.1:{port}/", proc)
    assert status == 200 and "ok" in body, body


LATER_BUILDPACK = {
    "buildpack.toml": """\
        api = "0.10"
        [buildpack]
        id = "tests/uses-python"
        version = "0.0.1"
        [[targets]]
        os = "linux"
        """,
    "bin/detect": """\
        #!/bin/sh
        printf '[[requires]]\\nname = "python"\\n' > "$CNB_BUILD_PLAN_PATH"
        """,
    "bin/build": """\
        #!/bin/sh
        set -eu
        echo "uses-python: $(command -v python) $(python -c 'import sys, flask; print(sys.version.split()[0], flask.__name__)')"
        python -c 'import flask' && python -m pip --version >/dev/null
        echo built-with-python > "$PWD/uses-python.txt"
        """,
}


def write_buildpack(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        if rel.startswith("bin/"):
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return root


def test_a_later_buildpack_requires_python_and_runs_it(pack_engine: PackEngine, tmp_path: Path) -> None:
    later = write_buildpack(tmp_path / "uses-python", LATER_BUILDPACK)
    app = copy_app(FLASK, tmp_path)
    build = pack_engine.app(app, later=(later,))
    for _ in range(2):  # cold, then warm: the python and venv layers are there for it both times
        result = built(build, app)
        assert "a later buildpack requires python at every build" in result.output, result.output
        assert f"uses-python: /layers/scalingo_python/venv/bin/python {PYTHON_VERSION} flask" in result.output, (
            result.output)
    done = pack_engine.container(build.image).run(["cat", "uses-python.txt"])
    assert done.stdout.strip() == "built-with-python", done.stdout + done.stderr


@pytest.mark.parametrize("variant", [Variant.NO_PYTHON, Variant.UNSUPPORTED_PYTHON])
def test_build_images_without_a_usable_python3_bootstrap(pack_engine: PackEngine, tmp_path: Path,
                                                         variant: Variant) -> None:
    app = copy_app(FLASK, tmp_path)
    build = pack_engine.app(app, variant=variant)
    result = built(build, app)
    assert "## Buildpack runtime" in result.output, result.output
    assert "to run the buildpack" in result.output
    with serving(pack_engine.container(build.image), f"bootstrap-{variant.value}") as (port, proc):
        status, _ = get_until(f"http://127.0.0.1:{port}/", proc)
    assert status == 200
    warm = built(build, app)
    assert "Using cached dependencies" in warm.output


def test_project_toml_env_and_pack_env(pack_engine: PackEngine, tmp_path: Path) -> None:
    """The app's env as pack passes it: `[[io.buildpacks.build.env]]` of project.toml, and --env."""
    app = copy_app(APPS / "django-gunicorn", tmp_path)
    (app / "project.toml").write_text(textwrap.dedent("""\
        [_]
        schema-version = "0.2"
        [[io.buildpacks.build.env]]
        name = "DISABLE_COLLECTSTATIC"
        value = "1"
        """))
    build = pack_engine.app(app, env={"BP_PYTHON_INSTALL_DEV_DEPENDENCIES": "false"})
    result = built(build, app)
    assert "Skipping collectstatic: DISABLE_COLLECTSTATIC=1 is set" in result.output, result.output
    assert "Running python manage.py collectstatic" not in result.output


def test_image_layers_are_the_buildpacks_and_sized(pack_engine: PackEngine,
                                                   flask: tuple[PackBuild, Path, BuildResult]) -> None:
    """The image a user pushes: the run image, then our launch layers; no build-only layer in it."""
    image = pack_engine.docker.inspect("image", flask[0].image)
    assert image is not None
    metadata = image["Config"]["Labels"]["io.buildpacks.lifecycle.metadata"]
    assert '"key":"scalingo/python"' in metadata
    for build_only in ('"pip"', '"pip-cache"'):
        assert f"{build_only}:" not in metadata.split('"buildpacks"', 1)[1], metadata
    assert image["Size"] < 400 * MIB


# --- the documentation's commands -------------------------------------------------------------

DOCS = (BUILDPACK_DIR / "README.md", BUILDPACK_DIR / "docs" / "distribution.md")
MARKER = "<!-- commands run by tests/e2e/test_pack_engine.py::test_documented_commands -->"
USER_COMMANDS = re.compile(r"^(cd \S+ && )?(pack build|pack builder|pack buildpack|pack rebase|docker run|docker build)\b")


def sh_blocks(doc: Path) -> list[tuple[bool, list[str]]]:
    """Each ```sh block of `doc`: whether the marker precedes it, and its commands (continuation
    lines joined, trailing comments dropped)."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks = []
    for index, line in enumerate(lines):
        if line.strip() != "```sh":
            continue
        end = lines.index("```", index + 1)
        joined = "\n".join(lines[index + 1:end]).replace("\\\n", " ")
        commands = [re.sub(r"\s+#\s.*$", "", command).strip() for command in joined.splitlines()]
        blocks.append((index > 0 and lines[index - 1].strip() == MARKER, [c for c in commands if c]))
    return blocks


def test_the_docs_show_only_pack_and_docker_commands_that_run() -> None:
    """Every pack or docker command in the README and the operator guide is in a block that
    test_documented_commands runs."""
    for doc in DOCS:
        unrun = [c for marked, commands in sh_blocks(doc) if not marked for c in commands if USER_COMMANDS.match(c)]
        assert not unrun, f"{doc.name}: commands no test runs: {unrun}"
        assert any(marked for marked, _ in sh_blocks(doc)), doc


def test_documented_commands(pack_engine: PackEngine, tmp_path: Path) -> None:
    """The commands of the README's "Using it with pack" and of docs/distribution.md, in order, as
    written, with what this machine needs added: `--network host` (the daemon has no bridge), the
    loopback runtime mirror as platform env, images that cannot be pulled (the builder's images:
    the stand-ins, tagged with the names builders/scalingo-22.toml gives; the lifecycle: the
    archive and image made from .tools/bin) and a free port for PORT=8080."""
    docker = pack_engine.docker
    stack = "scalingo-22"
    docker.run("tag", pack_engine.builders.stand_ins.build_image(stack), f"{stack}-cnb-build")
    docker.run("tag", pack_engine.builders.stand_ins.run_image(stack), f"{stack}-cnb-run")
    lifecycle = lifecycle_archive(pack_engine.tools, pack_engine.builders.state / "lifecycle")
    env = docker.env({"PATH": f"{BUILDPACK_DIR / '.tools' / 'bin'}:{BUILDPACK_DIR / '.venv' / 'bin'}:{os.environ['PATH']}",
                      "PACK_HOME": str(tmp_path / "pack-home"), "PACK_VOLUME_KEY": "documented-commands"})
    volumes_before = set(docker.run("volume", "ls", "-q").stdout.split())
    ran: list[str] = []

    def run(command: str) -> None:
        cwd = BUILDPACK_DIR
        if match := re.match(r"cd (\S+) && (.*)", command):
            cwd, command = BUILDPACK_DIR / match.group(1), match.group(2)
        argv = shlex.split(command)
        if argv[:2] == ["pack", "builder"] and "--config" in argv:
            config_at = argv.index("--config") + 1
            argv[config_at] = str(localised_builder_config(cwd / argv[config_at], lifecycle, tmp_path))
            argv += ["--pull-policy", "never"]
        elif argv[:2] == ["pack", "build"]:
            argv += ["--network", "host", "--pull-policy", "never", "--docker-host", "inherit"]
            for host, mount in pack_engine.volumes.items():
                argv += ["--volume", f"{host}:{mount}:ro"]
            for name, value in pack_engine.platform_env.items():
                argv += ["--env", f"{name}={value}"]
            if "--buildpack" in argv:
                argv += ["--lifecycle-image", pack_engine.builders.lifecycle_image()]
        elif argv[:2] == ["docker", "run"]:
            argv[2:2] = ["--network", "host"]
            if "--entrypoint" not in argv:
                serve_documented(docker, argv, env)
                ran.append(command)
                return
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
        ran.append(command)

    try:
        for doc in DOCS:
            for marked, commands in sh_blocks(doc):
                for command in commands if marked else []:
                    run(command)
    finally:
        docker.remove_images(["myapp", "scalingo-22-python", f"{stack}-cnb-build", f"{stack}-cnb-run"])
        new_volumes = set(docker.run("volume", "ls", "-q").stdout.split()) - volumes_before
        if new_volumes:
            docker.run("volume", "rm", "--force", *sorted(new_volumes), check=False)
    assert any(c.startswith("pack build") for c in ran) and any(c.startswith("docker run") for c in ran), ran


def localised_builder_config(config: Path, lifecycle: Path, tmp_path: Path) -> Path:
    """The builder configuration with the lifecycle archive made here instead of the release
    (GitHub is out of reach) and its buildpack path made absolute (the copy lives elsewhere)."""
    data = toml_io.load(config)
    data["lifecycle"] = {"uri": str(lifecycle)}
    for buildpack in data["buildpacks"]:
        buildpack["uri"] = str((config.parent / buildpack["uri"]).resolve())
    copy = tmp_path / config.name
    toml_io.dump(data, copy)
    return copy


def serve_documented(docker: Docker, argv: list[str], env: dict[str, str]) -> None:
    """A documented `docker run` of the web process: it answers HTTP, then stops gracefully."""
    port = str(free_port())
    argv = [arg.replace("PORT=8080", f"PORT={port}") for arg in argv]
    name = f"documented-{port}"
    argv[2:2] = ["--name", name]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        status, _ = get_until(f"http://127.0.0.1:{port}/", proc)  # type: ignore[arg-type]
        assert status == 200
    finally:
        docker.run("stop", name, check=False)
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, " ".join(argv) + "\n" + out
    assert not [line for line in out.splitlines() if "error" in line.lower()], out
