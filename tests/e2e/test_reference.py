"""End to end on the reference CNB lifecycle: the real analyzer, detector, restorer, builder and
exporter (Platform API 0.13, OCI layout, volume cache) run the packaged buildpack; the exported
image's own launcher starts it. Layers come back through the real restorer, so a warm rebuild
here proves what a platform's redeploy does.

The pipenv, poetry and uv apps' cold and warm builds pin golden logs of the dependencies
section (tests/e2e/golden/{pipenv,poetry,uv}-{cold,warm}.txt, see tests/support/golden.py):
after an intended change of the log, `UPDATE_GOLDEN=1 pytest tests/e2e/test_reference.py -k
cold_warm` rewrites them."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.builds import ARCH, BUILDPACK_DIR, PYTHON_MAJOR, PYTHON_VERSION, AppBuild, Reference, RuntimeMirror
from support.golden import TEST_PYTHON, assert_section
from support.serving import fake_cgroup_v2, free_port, get

from python_buildpack_dev.platform import registry
from python_buildpack_dev.platform.build_image import grant_traverse, local_interpreters
from python_buildpack_dev.platform.phases import BuildResult, PhaseResult
from python_buildpack_dev.platform.workspace import Workspace
from python_buildpack_dev.reference.builder import ReferenceBuilder
from python_buildpack_dev.runtime_mirror.archives import file_sha256, make_runtime_archive
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import Faults, serve

pytestmark = pytest.mark.e2e

MakeApp = Callable[..., AppBuild]
GIB = 1024 * 1024 * 1024
INSTALLERS = ("Installing dependencies with",)


def serve_web(app: AppBuild, cgroup_root: Path) -> tuple[int, str, str]:
    """Starts the default process with a fake 1 GiB cgroup and $PORT; GET / once it listens."""
    cgroup = fake_cgroup_v2(cgroup_root, GIB)
    grant_traverse(cgroup_root, lambda _: None)
    port = free_port()
    proc = app.launcher.popen(None, {"PORT": str(port), **cgroup}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status, body = get(f"http://127.0.0.1:{port}/", time.monotonic() + 60)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out = proc.communicate(timeout=45)[0]
        except subprocess.TimeoutExpired:  # gunicorn waits for booting workers: don't wait on a loaded machine
            os.killpg(proc.pid, signal.SIGKILL)
            out = proc.communicate()[0]
    return status, body, out.decode(errors="replace")


def assert_warm(app: AppBuild) -> BuildResult:
    """A rebuild with nothing changed, through the real restorer and exporter: no installer run,
    the runtime and the venv reused from the previous image (their files neither restored nor
    read again: `Reusing layer`), only packed copies restored from the cache."""
    warm = app.build()
    assert warm.ok, warm.output
    assert warm.build is not None
    assert "Using cached Python" in warm.output and "Using cached dependencies" in warm.output
    assert not any(marker in warm.build.output for marker in INSTALLERS), warm.build.output
    for layer in ("venv", "python"):
        assert f'Restoring metadata for "scalingo/python:{layer}" from app image' in warm.output
        assert f'Restoring data for "scalingo/python:{layer}" from cache' not in warm.output
        assert f"Reusing layer 'scalingo/python:{layer}'" in warm.output
    assert 'Restoring data for "scalingo/python:venv-packed" from cache' in warm.output
    return warm


APPS = {
    # app: (extra files, what GET / answers)
    "django-gunicorn": ({}, "ok"),
    "pipenv-basic": ({"Procfile": "web: gunicorn app:app --bind 0.0.0.0:$PORT\n"}, "Hello from pipenv-basic"),
    "poetry-basic": ({"Procfile": "web: gunicorn poetry_basic:app --bind 0.0.0.0:$PORT\n"}, "Hello from poetry-basic"),
    "uv-basic": ({"Procfile": "web: gunicorn app:app --bind 0.0.0.0:$PORT\n"}, "Hello from uv-basic"),
}
# The apps whose dependencies section is pinned (golden/<manager>-<cold|warm>.txt).
GOLDEN = {"pipenv-basic": "pipenv", "poetry-basic": "poetry", "uv-basic": "uv"}


@pytest.mark.parametrize("name", sorted(APPS))
def test_app_cold_warm_and_launch(make_reference_app: MakeApp, tmp_path: Path, name: str) -> None:
    files, answer = APPS[name]
    app = make_reference_app(name, files=files)
    if name in GOLDEN:  # the log users see: downloads in the buildpack's cache layers, not the session's
        app.platform_env = {k: v for k, v in app.platform_env.items() if not k.endswith("_CACHE_DIR")}
    cold = app.build()
    assert cold.ok, cold.output
    assert "Adding layer 'scalingo/python:venv'" in cold.output
    status, body, log = serve_web(app, tmp_path / "cgroup")
    assert status == 200 and answer in body, body
    assert log.count("Booting worker with pid") == 4, log
    assert "WEB_CONCURRENCY=4 from the 1024 MB memory limit" in log
    warm = assert_warm(app)
    if name in GOLDEN:
        for state, build in (("cold", cold), ("warm", warm)):
            assert_section(build.output, "Installing dependencies", f"{GOLDEN[name]}-{state}", TEST_PYTHON)


@pytest.fixture(scope="module")
def two_version_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeMirror]:
    """A mirror with this interpreter's version and one more local CPython, for version changes."""
    from conftest import TEST_CACHE

    def key(major: str) -> tuple[int, ...]:
        return tuple(int(part) for part in major.split("."))

    others = {major: exe for major, exe in local_interpreters().items()
              if major != PYTHON_MAJOR and key(major) >= (3, 10)}  # what the pinned pip runs on
    if not others:
        pytest.skip("needs a second local CPython (3.10+) to change versions")
    other_major = max(others, key=key)
    other_exe = others[other_major]
    other_version = subprocess.run([str(other_exe), "-c", "import platform; print(platform.python_version())"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    directory = tmp_path_factory.mktemp("two-version-mirror")
    pins = {}
    for prefix, version in ((Path(sys.base_prefix), PYTHON_VERSION), (other_exe.parents[1], other_version)):
        archive = make_runtime_archive(prefix, directory, version, "22.04", ARCH,
                                       cache_dir=TEST_CACHE / "runtime-archives")
        pins[archive.name] = file_sha256(archive)
    catalog = write_catalog(directory / "catalog.toml",
                            {"scalingo-22": {PYTHON_MAJOR: PYTHON_VERSION, other_major: other_version}},
                            default=PYTHON_MAJOR, artifacts=pins)
    faults = Faults()
    with serve(directory, faults) as base_url:
        yield RuntimeMirror(directory, base_url, catalog, faults, version=other_version)


def test_flask_example_redeploys(make_reference_app: MakeApp, two_version_mirror: RuntimeMirror,
                                 tmp_path: Path) -> None:
    """The bundled example through a platform's redeploys: cold, warm, a requirements change,
    a Python version change; launched with a 1 GiB memory limit after each."""
    from support.builds import BUILDPACK_DIR

    app = make_reference_app(files={})
    shutil.rmtree(app.source)
    shutil.copytree(BUILDPACK_DIR / "examples" / "flask-pip", app.source)
    app.platform_env |= two_version_mirror.platform_env()

    cold = app.build()
    assert cold.ok, cold.output
    assert f"Installing Python {PYTHON_VERSION}" in cold.output
    status, body, _ = serve_web(app, tmp_path / "cg1")
    assert status == 200 and "WEB_CONCURRENCY=4" in body, body

    assert_warm(app)

    requirements = app.source / "requirements.txt"
    requirements.write_text(requirements.read_text() + "six==1.17.0\n")
    changed = app.build()
    assert changed.ok, changed.output
    assert "Using cached Python" in changed.output
    # Exactly updated from the venv's packed copy; the runtime, not cached for this app (no step
    # of its redeploys runs Python), downloaded again to run pip, then given up: the exporter
    # reuses the previous image's layer.
    assert "Updating cached dependencies since requirements.txt changed" in changed.output, changed.output
    assert "Installing dependencies with" in changed.output
    assert f"Downloading and extracting Python {PYTHON_VERSION}" in changed.output
    assert "Adding layer 'scalingo/python:venv'" in changed.output
    assert "Reusing layer 'scalingo/python:python'" in changed.output
    proc = app.run(["python", "-c", "import six; print(six.__version__)"])
    assert proc.stdout.strip() == "1.17.0", proc.stdout + proc.stderr

    other = two_version_mirror.version
    (app.source / ".python-version").write_text(other.rsplit(".", 1)[0] + "\n")
    switched = app.build()
    assert switched.ok, switched.output
    assert f"Installing Python {other}" in switched.output
    assert f"Discarding cached Python {PYTHON_VERSION}" in switched.output, switched.output
    assert "Adding layer 'scalingo/python:python'" in switched.output
    status, body, _ = serve_web(app, tmp_path / "cg2")
    assert status == 200 and f"Hello from Python {other}" in body, body



def test_any_workdir_and_app_directory_name(make_reference_app: MakeApp, tmp_path: Path) -> None:
    """Images are named by their path in the layout directory, which must be a valid reference:
    a workspace under `Builds/My App` (`local-lifecycle build --workdir ~/Builds/App`) for an app
    directory called `My App` builds, exports, redeploys from its image and launches."""
    app = make_reference_app("pip-flask")
    source = app.source.parent / "My App"
    app.source.rename(source)
    app.source = source
    app.workspace = Workspace.for_app(source, tmp_path / "Builds" / "My App")
    assert app.build().ok
    warm = app.build()
    assert warm.ok, warm.output
    assert "Reusing layer 'scalingo/python:venv'" in warm.output
    assert app.run(["python", "-c", "import flask"]).returncode == 0


def test_the_command_line_builds_in_any_workdir_and_says_how_to_run_it(reference: Reference, tmp_path: Path) -> None:
    """`local-lifecycle build --workdir ~/Builds/My App App` as a user types it: the build exports,
    and the command it prints to run the image (with that workdir) starts the app."""
    app = tmp_path / "App"
    shutil.copytree(BUILDPACK_DIR / "examples" / "flask-pip", app)
    cli = [sys.executable, "-m", "python_buildpack_dev.lifecycle"]
    workdir = tmp_path / "Builds" / "My App"
    built = subprocess.run([*cli, "build", "--engine", "reference", "--workdir", str(workdir), str(app)],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    said = built.stdout + built.stderr
    assert built.returncode == 0, said
    hint = re.search(r"run it with: local-lifecycle run (.+)$", said, re.MULTILINE)
    assert hint is not None, said
    assert shlex.split(hint[1]) == ["--engine", "reference", "--workdir", str(workdir), str(app)]
    ran = subprocess.run([*cli, "run", "--check", *shlex.split(hint[1])], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr


# --- what the cache holds: only what a later build reads (caching/plan.py) ---------------------

POST_COMPILE = "#!/bin/sh\nset -e\npython -c 'import six' && echo post_compile ran with six\n"


def test_a_lost_cache_costs_nothing_until_the_dependencies_change(make_reference_app: MakeApp) -> None:
    """The previous image alone: a redeploy with nothing changed reuses its layers; a dependency
    change then installs from scratch (no packed copy) and downloads the runtime again."""
    app = make_reference_app("pip-flask")
    assert app.build().ok
    shutil.rmtree(app.workspace.cache)
    warm = assert_warm_without_cache(app)
    assert "Installing dependencies with" not in warm.output
    (app.source / "requirements.txt").write_text((app.source / "requirements.txt").read_text() + "six==1.17.0\n")
    changed = app.build()
    assert changed.ok, changed.output
    assert "Updating cached dependencies since requirements.txt changed" in changed.output
    assert "No copy of them in the cache to update: installing them all" in changed.output
    assert f"Downloading and extracting Python {PYTHON_VERSION}" in changed.output
    assert "Reusing layer 'scalingo/python:python'" in changed.output
    assert app.run(["python", "-c", "import six, flask"]).returncode == 0


def assert_warm_without_cache(app: AppBuild) -> BuildResult:
    warm = app.build()
    assert warm.ok, warm.output
    assert "Using cached Python" in warm.output and "Using cached dependencies" in warm.output
    for layer in ("python", "venv"):
        assert f"Reusing layer 'scalingo/python:{layer}'" in warm.output
    return warm


class RecordDropping(ReferenceBuilder):
    """The reference engine, optionally without the restored build record (so that the build runs
    in full), keeping what the builder phase left in the buildpack's layers dir."""

    drop_record = False
    left: dict[str, object]

    def _phase(self, phase: str, args: list[str], *, as_build_user: bool = False) -> PhaseResult:
        layers = self.ws.buildpack_layers
        result = super()._phase(phase, args, as_build_user=as_build_user)
        if phase == "restore" and self.drop_record:
            shutil.rmtree(layers / "build-record")
            (layers / "build-record.toml").unlink()
        if phase == "build":  # (the restorer gives the SBOMs it brings back a mode of its own, 0644 or 0666)
            self.left = {str(p.relative_to(layers)): (None if ".sbom." in p.name else p.lstat().st_mode,
                                                      os.readlink(p) if p.is_symlink()
                                                      else p.read_bytes() if p.is_file() else None)
                         for p in sorted(layers.rglob("*"))}
        return result


def build_observed(app: AppBuild, *, drop_record: bool = False, **extra_env: str) -> tuple[BuildResult, dict[str, object]]:
    ref = app.reference
    assert ref is not None
    builder = RecordDropping(ref.tools, ref.artifact, app.workspace, target=app.target,
                             platform_env=app.platform_env | extra_env, build_python=ref.build_python)
    builder.drop_record = drop_record
    result = builder.build(app.source)
    assert result.ok, result.output
    return result, builder.left


def log_sections(output: str) -> str:
    """The buildpack's log from its Stack section to its Done line, without the record's own line."""
    text = output[output.index("## Stack"):output.index("## Done")]
    return "\n".join(line for line in text.splitlines() if "A redeploy with nothing changed" not in line)


def test_a_redeploy_with_nothing_changed_replays_the_last_build(make_reference_app: MakeApp) -> None:
    """The record a build leaves makes the next unchanged build write the same files without running:
    the same layers dir, byte for byte, as a full build that reuses every layer, and the same log.
    Any difference (an app file, a setting, a lost image) builds in full and is said."""
    app = make_reference_app("pip-flask", files={".python-version": f"{PYTHON_MAJOR}\n"})
    cold = app.build()
    assert "A redeploy with nothing changed reuses these layers without running the build" in cold.output
    replayed, replayed_left = build_observed(app)  # from the cold build's record
    assert "## Nothing changed\n   - The app's 3 files, the settings, the stack and the buildpack" in replayed.output
    full, full_left = build_observed(app, drop_record=True)
    assert "## Nothing changed" not in full.output
    assert replayed_left == full_left
    assert log_sections(replayed.output) == log_sections(full.output)
    again, again_left = build_observed(app)  # from the full build's record
    assert "## Nothing changed" in again.output and again_left == full_left
    for layer in ("python", "venv", "gunicorn", "web-concurrency"):
        assert f"Reusing layer 'scalingo/python:{layer}'" in again.output
    assert app.run(["python", "-c", "import flask"]).returncode == 0

    with (app.source / "app.py").open("a") as f:
        f.write("# a comment\n")
    changed = app.build()
    assert changed.ok, changed.output
    assert "The last build's record did not apply: app.py changed" in changed.output
    assert "Using cached dependencies (requirements.txt unchanged)" in changed.output
    set_up = app.build(BP_EXAMPLE="1")
    assert re.search(r"The last build's record did not apply: .*the platform's env/BP_EXAMPLE was added", set_up.output)
    shutil.rmtree(app.workspace.layout / "index.docker.io" / "local" / "app")
    lost = app.build(BP_EXAMPLE="1")
    assert lost.ok, lost.output
    assert re.search(r"The last build's record did not apply: the layer \S+ was not restored \(a lost cache or image\)",
                     lost.output), lost.output
    assert "Adding layer 'scalingo/python:venv'" in lost.output


def test_redeploys_through_a_registry_reuse_the_image_layers_by_digest(make_reference_app: MakeApp) -> None:
    """Images in a registry, as a CI platform keeps them: the run image pushed there, the app image
    published there. A redeploy with nothing changed publishes the same layer blobs; a changed
    one publishes a new venv blob only."""
    if not registry.available():
        pytest.skip("no docker-registry (dev/docker start installs it)")
    with registry.local_registry() as served:
        app = make_reference_app("pip-flask")
        app.registry = served
        cold = app.build()
        assert cold.ok, cold.output
        repository = app.builder().app_repository
        first = layer_blobs(served, repository)
        assert {"python", "venv"} <= first.keys()
        warm = assert_warm_without_cache(app)
        assert "Installing dependencies with" not in warm.output
        assert layer_blobs(served, repository) == first
        with (app.source / "requirements.txt").open("a") as f:
            f.write("six==1.17.0\n")
        changed = app.build()
        assert changed.ok, changed.output
        after = layer_blobs(served, repository)
        assert after["python"] == first["python"] and after["venv"] != first["venv"]


def layer_blobs(served: registry.Registry, repository: str) -> dict[str, str]:
    """The blob digest of each buildpack layer of the published image, by layer name."""
    manifest, config = registry.read_image(served, repository)
    metadata = json.loads(config["config"]["Labels"]["io.buildpacks.lifecycle.metadata"])
    names = {layer["sha"]: name for bp in metadata["buildpacks"] for name, layer in bp["layers"].items()}
    digests = zip(config["rootfs"]["diff_ids"], (layer["digest"] for layer in manifest["layers"]), strict=True)
    return {names[diff_id]: digest for diff_id, digest in digests if diff_id in names}


def test_an_app_whose_builds_run_python_unpacks_its_copies_and_reuses_the_image_layers(
    make_reference_app: MakeApp,
) -> None:
    """bin/post_compile runs at every build: the runtime's, the installer's and the venv's packed
    copies are cached; a redeploy unpacks them for the hook, then gives them up unchanged (the
    exporter reuses the image's layers). A hook that changes the venv gets it exported, and the
    next build's copy has the change."""
    app = make_reference_app("pip-flask", files={"requirements.txt": "six==1.17.0\n", "bin/post_compile": POST_COMPILE})
    (app.source / "bin" / "post_compile").chmod(0o755)
    cold = app.build()
    assert cold.ok, cold.output
    assert "Caching packed copies of Python, the installer and the dependencies: bin/post_compile runs" in cold.output
    for layer in ("python-packed", "venv-packed", "pip"):  # pip's layer is one file, cached as it is
        assert f"Adding cache layer 'scalingo/python:{layer}'" in cold.output
    warm = app.build()
    assert warm.ok, warm.output
    assert f"Unpacking cached Python {PYTHON_VERSION}" in warm.output and "Unpacked cached dependencies (" in warm.output
    assert "post_compile ran with six" in warm.output
    assert not any(marker in warm.output for marker in (*INSTALLERS, "Installing pip", "Downloading"))
    for layer in ("python", "venv"):
        assert f"Reusing layer 'scalingo/python:{layer}'" in warm.output

    # The hook installs a package into the venv: its files are not the image's any more.
    (app.source / "bin" / "post_compile").write_text(POST_COMPILE + "pip install --quiet idna==3.10\n")
    hooked = app.build()
    assert hooked.ok, hooked.output
    assert "Adding layer 'scalingo/python:venv'" in hooked.output
    assert "Reusing layer 'scalingo/python:python'" in hooked.output
    assert app.run(["python", "-c", "import idna; print(idna.__version__)"]).stdout.strip() == "3.10"


def test_a_lost_image_is_made_again_from_the_packed_copies(make_reference_app: MakeApp) -> None:
    """The cache alone (the previous image deleted): the runtime and the venv are unpacked from
    their copies and exported anew, nothing installed."""
    app = make_reference_app("pip-flask", files={"bin/post_compile": "#!/bin/sh\necho hook\n"})
    (app.source / "bin" / "post_compile").chmod(0o755)
    assert app.build().ok
    shutil.rmtree(app.workspace.layout / "index.docker.io" / "local" / "app")
    rebuilt = app.build()
    assert rebuilt.ok, rebuilt.output
    assert f"Unpacking cached Python {PYTHON_VERSION}" in rebuilt.output
    assert "Installing dependencies with" not in rebuilt.output
    for layer in ("python", "venv"):
        assert f"Adding layer 'scalingo/python:{layer}'" in rebuilt.output
    status = app.run(["python", "-c", "import flask"])
    assert status.returncode == 0, status.stderr


def test_django_redeploys_put_collectstatic_output_back_without_python(make_reference_app: MakeApp) -> None:
    """collectstatic's output is kept in the `static` cache layer under a key of what it reads: a
    redeploy with nothing changed puts it back without unpacking the runtime or the venv; a
    changed app file or setting runs collectstatic again, and its new output is what ships."""
    app = make_reference_app("django-gunicorn")
    css = "staticfiles/css/site.css"

    def shipped() -> str:
        result = app.run(["cat", css])
        assert result.returncode == 0, result.stderr
        return result.stdout

    cold = app.build()
    assert cold.ok, cold.output
    assert "Running python manage.py collectstatic --noinput" in cold.output
    original = shipped()
    assert original == (app.source / "static/css/site.css").read_text()

    warm = app.build()
    assert warm.ok, warm.output
    assert "- Using cached collectstatic output (app files, dependencies and settings unchanged;" in warm.output
    assert "collectstatic --noinput" not in warm.output
    for work in ("Unpacking cached dependencies", "Python 3", "Installing dependencies with"):
        assert f"- {work}" not in warm.output.replace("Using Python", ""), warm.output
    assert 'Restoring data for "scalingo/python:static" from cache' in warm.output
    assert shipped() == original
    # The default process needs gunicorn in the venv, whose files this build did not unpack.
    assert "- No Procfile found: using the Django default `web: gunicorn mysite.wsgi" in warm.output

    (app.source / "static/css/site.css").write_text("body { color: teal; }\n")
    changed = app.build()
    assert changed.ok, changed.output
    assert "- Discarding cached collectstatic output since the app's files changed" in changed.output
    assert "Running python manage.py collectstatic --noinput" in changed.output
    assert shipped() == "body { color: teal; }\n"

    setting = app.build(SITE_BANNER="on")  # settings modules read the environment
    assert setting.ok, setting.output
    assert "- Discarding cached collectstatic output since the app's environment variables changed" in setting.output
    assert "Running python manage.py collectstatic --noinput" in setting.output
    again = app.build(SITE_BANNER="on")
    assert "- Using cached collectstatic output" in again.output and shipped() == "body { color: teal; }\n"
