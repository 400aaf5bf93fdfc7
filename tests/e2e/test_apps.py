"""Whole apps end to end: build with the real bin/detect and bin/build, then start the web
process through the launcher with a fake cgroup and $PORT, and talk HTTP to it on loopback.

The bundled example's cold and warm builds pin golden logs (tests/e2e/golden/pip-*.txt and
python-version-unpinned-*.txt, see tests/support/golden.py): after an intended change of the
log, `UPDATE_GOLDEN=1 pytest tests/e2e/test_apps.py -k bundled_example` rewrites them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.builds import BUILDPACK_DIR, AppBuild
from support.golden import TEST_PYTHON, assert_section
from support.serving import fake_cgroup_v2, free_port, get

pytestmark = pytest.mark.e2e

MakeApp = Callable[..., AppBuild]








def serve_and_get(app: AppBuild, cgroup: dict[str, str], path: str = "/") -> tuple[int, str, str]:
    port = free_port()
    proc = app.launcher.popen(
        "web", {"PORT": str(port), **cgroup}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        status, body = get(f"http://127.0.0.1:{port}{path}", time.monotonic() + 60)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    return status, body, out


def test_bundled_example_builds_and_serves(make_app: MakeApp, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    app = make_app(shared_cache=False)  # the log users see: downloads in the buildpack's cache layer
    shutil.rmtree(app.source)
    shutil.copytree(BUILDPACK_DIR / "examples" / "flask-pip", app.source)
    result = app.build()
    assert result.ok, result.output
    assert "Processes from Procfile: web (default)" in result.output
    capfd.readouterr()
    status, body, _ = serve_and_get(app, fake_cgroup_v2(tmp_path / "cg", 512 * 1024 * 1024))
    assert status == 200
    assert "WEB_CONCURRENCY=2" in body
    # exec.d programs write to the container's stderr, as the launcher's own
    assert "WEB_CONCURRENCY=2 from the 512 MB memory limit" in capfd.readouterr().err

    warm = app.build()
    assert warm.ok, warm.output
    assert "Using cached Python" in warm.output and "Using cached dependencies" in warm.output
    for state, build in (("cold", result), ("warm", warm)):
        assert_section(build.output, "Installing dependencies", f"pip-{state}", TEST_PYTHON)
        assert_section(build.output, "Python version", f"python-version-unpinned-{state}", TEST_PYTHON)


def test_django_gunicorn_default_process_four_workers(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app("django-gunicorn")
    result = app.build()
    assert result.ok, result.output
    assert "collectstatic" in result.output
    assert "gunicorn mysite.wsgi --bind 0.0.0.0:$PORT" in result.output
    assert (app.workspace.image_app / "staticfiles").is_dir() or any(app.workspace.image_app.glob("static*/**/*.css"))
    status, _, log = serve_and_get(app, fake_cgroup_v2(tmp_path / "cg", 1024 * 1024 * 1024))
    assert status == 200
    assert log.count("Booting worker with pid") == 4, log


def test_launch_environment(make_app: MakeApp) -> None:
    app = make_app(files={"requirements.txt": "six==1.17.0\n"})
    assert app.build().ok
    from python_buildpack_dev.emulated.launcher import run_in_image

    proc = run_in_image(app.workspace, ["sh", "-c", "env"])
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    venv = app.layers / "venv"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LANG"] == "C.UTF-8"
    assert env["VIRTUAL_ENV"] == str(venv)
    assert env["PATH"].split(":")[0] == str(venv / "bin")
    assert "PYTHONHOME" not in env
    # nothing points at a build-only layer (tools, download caches)
    launch_layers = {"python", "venv", "web-concurrency"}
    for name, value in env.items():
        for part in value.split(":"):
            if str(app.layers) in part:
                layer = part[len(str(app.layers)) + 1 :].split("/")[0]
                assert layer in launch_layers, f"{name} points at build-only layer {layer}: {part}"
    venv_files = [p for p in venv.rglob("*") if p.is_file() and not p.is_symlink() and p.suffix != ".pyc"]
    for path in venv_files:
        text = path.read_bytes()
        if path.name == "pip-outside-venv.pth":  # its first line, the pip layer's zip, counts while building only
            text = b"".join(text.splitlines(keepends=True)[1:])
        for tool in ("pip", "pip-cache", "uv", "poetry", "pipenv"):
            assert f"{app.layers}/{tool}/".encode() not in text, f"{path} refers to the {tool} layer"
    # In the image, where that layer is not, `import pip` finds the runtime's own wheel.
    proc = run_in_image(app.workspace, ["python", "-c", "import pip; print(pip.__file__)"])
    assert proc.stdout.startswith(f"{app.layers}/python/lib/python"), proc.stdout + proc.stderr
    assert "/ensurepip/_bundled/pip-" in proc.stdout
    proc = run_in_image(app.workspace, ["python", "-c", "import six, sys; print(six.__version__, sys.prefix)"])
    assert proc.stdout.split() == ["1.17.0", str(venv)]
    # a user's LANG wins over the default
    proc = run_in_image(app.workspace, ["sh", "-c", "echo $LANG"], {"LANG": "fr_FR.UTF-8"})
    assert proc.stdout.strip() == "fr_FR.UTF-8"


def test_end_of_life_stack_warns(make_app: MakeApp) -> None:
    from support.builds import ARCH

    from python_buildpack_dev.platform.phases import ImageTarget

    app = make_app(files={"requirements.txt": ""})
    app.target = ImageTarget(distro_version="20.04", arch=ARCH)
    result = app.build()
    assert result.ok, result.output
    assert "scalingo-20 is end-of-life" in result.output


def test_sboms_exported_for_runtime_and_venv(make_app: MakeApp) -> None:
    import json

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from support.builds import PYTHON_VERSION

    app = make_app(files={"requirements.txt": "six==1.17.0\nidna==3.10\n"})
    assert app.build().ok
    sbom_root = app.workspace.image / "sbom" / "launch" / "scalingo_python"
    validator = JsonStrictValidator(SchemaVersion.V1_5)
    documents = {}
    for layer in ("python", "venv"):
        text = (sbom_root / layer / "sbom.cdx.json").read_text()
        assert validator.validate_str(text) is None
        documents[layer] = json.loads(text)
    runtime = {c["name"]: c["version"] for c in documents["python"]["components"]}
    assert runtime["python"] == PYTHON_VERSION
    venv = {c["purl"] for c in documents["venv"]["components"]}
    assert {"pkg:pypi/six@1.17.0", "pkg:pypi/idna@3.10"} <= venv
    # a warm rebuild keeps writing identical documents
    before = (sbom_root / "venv" / "sbom.cdx.json").read_bytes()
    assert app.build().ok
    assert (sbom_root / "venv" / "sbom.cdx.json").read_bytes() == before
