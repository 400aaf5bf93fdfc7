"""End to end on the reference CNB lifecycle: the real analyzer, detector, restorer, builder and
exporter (Platform API 0.13, OCI layout, volume cache) run the packaged buildpack; the exported
image's own launcher starts it. Layers come back through the real restorer, so a warm rebuild
here proves what a platform's redeploy does.

The pipenv, poetry and uv apps' cold and warm builds pin golden logs of the dependencies
section (tests/e2e/golden/{pipenv,poetry,uv}-{cold,warm}.txt, see tests/support/golden.py):
after an intended change of the log, `UPDATE_GOLDEN=1 pytest tests/e2e/test_reference.py -k
cold_warm` rewrites them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.builds import ARCH, PYTHON_MAJOR, PYTHON_VERSION, AppBuild, RuntimeMirror
from support.golden import TEST_PYTHON, assert_section
from support.serving import fake_cgroup_v2, free_port, get

from python_buildpack_dev.lifecycle.build_image import grant_traverse, local_interpreters
from python_buildpack_dev.lifecycle.builder import BuildResult
from python_buildpack_dev.lifecycle.runtime_mirror import (
    Faults,
    file_sha256,
    make_runtime_archive,
    serve,
    write_catalog,
)

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
    """A rebuild with nothing changed: every layer restored by the real restorer, no installer run."""
    warm = app.build()
    assert warm.ok, warm.output
    assert warm.build is not None
    assert "Using cached Python" in warm.output and "Using cached dependencies" in warm.output
    assert not any(marker in warm.build.output for marker in INSTALLERS), warm.build.output
    assert 'Restoring data for "scalingo/python:venv" from cache' in warm.output
    assert "Reusing layer 'scalingo/python:venv'" in warm.output
    assert "Reusing layer 'scalingo/python:python'" in warm.output
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
    import shutil

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
    assert "requirements.txt changed" in changed.output, changed.output
    assert "Installing dependencies with" in changed.output
    assert "Adding layer 'scalingo/python:venv'" in changed.output
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
