"""A venv exported as several layers (layers/site_layers.py), on the reference lifecycle: a
changed pin rewrites one layer and the exporter reuses the others from the previous image; the
venv is updated from its distributions' records alone (no unpacking of the venv), exactly.

`BP_PYTHON_VENV_LAYERS=split` splits these small apps as `auto` splits a large one."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.builds import AppBuild

from python_buildpack_dev.platform.phases import BuildResult

pytestmark = pytest.mark.e2e

MakeApp = Callable[..., AppBuild]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "apps"
SPLIT = {"BP_PYTHON_VENV_LAYERS": "split"}
# Every installed distribution once, name → version (importlib.metadata sees the site layers too).
LIST = (
    "import importlib.metadata as m, json, collections; names = [d.metadata['Name'].lower() for d in m.distributions()];"
    "print(json.dumps({'dup': [n for n, c in collections.Counter(names).items() if c > 1],"
    " 'versions': {d.metadata['Name'].lower(): d.version for d in m.distributions()}}))"
)


def site_layers(result: BuildResult, verb: str) -> list[str]:
    return re.findall(rf"{verb} layer 'scalingo/python:(site-[\w-]+)'", result.output)


def installed(app: AppBuild) -> dict[str, str]:
    listed = app.run(["python", "-c", LIST])
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert found["dup"] == [], found
    return dict(found["versions"])


def build(app: AppBuild) -> BuildResult:
    result = app.build(**SPLIT)
    assert result.ok, result.output
    return result


def test_pip_app_changed_pin_rewrites_one_layer(make_reference_app: MakeApp) -> None:
    # babel (30 MB installed, its locale data) gets a layer of its own, which has no packed copy.
    requirements = "flask==3.1.3\ngunicorn==23.0.0\nbabel==2.17.0\nsix==1.16.0\n"
    app = make_reference_app("pip-flask", files={"requirements.txt": requirements})
    cold = build(app)
    written = site_layers(cold, "Adding")
    assert len(written) >= 3 and "site-pkg-babel" in written and "Dependencies in" in cold.output
    assert "Adding cache layer 'scalingo/python:site-pkg-babel-packed'" not in cold.output
    assert installed(app)["six"] == "1.16.0"

    # The app's freeze, one pin bumped: its own target set, no side resolution (pip_freeze.py).
    freeze = app.run(["python", "-m", "pip", "freeze"])
    assert freeze.returncode == 0 and "six==1.16.0" in freeze.stdout, freeze.stderr
    (app.source / "requirements.txt").write_text(freeze.stdout.replace("six==1.16.0", "six==1.17.0"))
    bumped = build(app)
    assert "Updating cached dependencies since requirements.txt changed" in bumped.output
    assert "The requirements pin every distribution: they are the target set, with no resolution" in bumped.output
    assert "Installing them all" not in bumped.output and "Unpacked the cached dependencies" in bumped.output
    assert len(site_layers(bumped, "Adding")) == 1, bumped.output  # six's layer; the others are the image's
    assert len(site_layers(bumped, "Reusing")) == len(written) - 1
    versions = installed(app)
    assert versions["six"] == "1.17.0" and versions["flask"] == "3.1.3"

    # A failed install changes nothing: the next build updates from the same records.
    (app.source / "requirements.txt").write_text(requirements + "surely-not-a-real-package-name-4242==1.0\n")
    failed = app.build(**SPLIT)
    assert not failed.ok and "surely-not-a-real-package-name-4242" in failed.output

    (app.source / "requirements.txt").write_text(requirements.replace("six==1.16.0\n", ""))
    removed = build(app)
    assert "Installing them all" not in removed.output
    assert "Removing six (no longer required)" in removed.output
    assert "six" not in installed(app)
    assert app.run(["python", "-c", "import six"]).returncode != 0  # no orphan file either

    warm = build(app)
    assert "Installing dependencies with" not in warm.output and not site_layers(warm, "Adding")
    status = app.run(["python", "-c", "import flask, gunicorn, werkzeug"])
    assert status.returncode == 0, status.stderr

    # The previous image lost: babel's layer is nowhere else, so the venv is installed again.
    shutil.rmtree(app.workspace.layout / "index.docker.io" / "local" / "app")
    rebuilt = build(app)
    assert (
        "Discarding their cached copy since the files of its layer site-pkg-babel are only in the previous image"
        in rebuilt.output
    )
    assert "Installing dependencies with" in rebuilt.output
    assert len(site_layers(rebuilt, "Adding")) == len(site_layers(removed, "Adding")) + len(
        site_layers(removed, "Reusing")
    )
    assert installed(app)["babel"] == "2.17.0"

    # One layer asked for: the next install exports the venv whole again.
    (app.source / "requirements.txt").write_text(requirements)
    single = app.build(BP_PYTHON_VENV_LAYERS="single")
    assert single.ok, single.output
    assert "Installing them all since BP_PYTHON_VENV_LAYERS=single asks for one layer" in single.output
    assert single.output.count("Unpacked the cached dependencies") == 1, single.output  # said once
    assert not site_layers(single, "Adding") and not site_layers(single, "Reusing")
    assert installed(app)["six"] == "1.16.0"


def test_uv_lock_app_updates_its_layers(make_reference_app: MakeApp) -> None:
    app = make_reference_app("uv-update")
    cold = build(app)
    assert installed(app)["six"] == "1.17.0"
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(FIXTURES / "uv-update-next" / name, app.source / name)
    updated = build(app)
    assert "Updating cached dependencies since pyproject.toml changed, uv.lock changed" in updated.output
    assert "Installing them all" not in updated.output
    assert 0 < len(site_layers(updated, "Adding")) < len(site_layers(cold, "Adding")), updated.output
    versions = installed(app)
    assert versions["gunicorn"] == "22.0.0" and versions["attrs"] == "25.3.0" and "six" not in versions
    status = app.run(["gunicorn", "--version"])
    assert "22.0.0" in status.stdout + status.stderr

    # A hook added later runs Python at every build: the split venv is unpacked with its layers
    # for it while the dependencies are unchanged, and installed whole at their next change.
    hook = app.source / "bin" / "post_compile"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\npython -c \"import importlib.metadata as m; print('hook saw gunicorn', m.version('gunicorn'))\"\n")
    hook.chmod(0o755)
    hooked = build(app)
    assert "hook saw gunicorn 22.0.0" in hooked.output and "Installing dependencies with" not in hooked.output
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(FIXTURES / "uv-update" / name, app.source / name)
    whole = build(app)
    assert "Installing them all since they are exported as several layers" in whole.output
    assert whole.output.count("Unpacked the cached dependencies") == 1, whole.output  # said once
    assert "hook saw gunicorn 23.0.0" in whole.output and not site_layers(whole, "Adding")
    assert installed(app)["six"] == "1.17.0"
