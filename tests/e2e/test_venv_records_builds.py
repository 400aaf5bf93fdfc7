"""An update in place that starts from the venv's records while its files unpack
(layers/venv_records.py), on the reference lifecycle, with real pip.

A version replaced (six, a top-level module whose byte-code shares `__pycache__`), one moved
back (gunicorn), one removed (typing_extensions, the same) and one added: the updated venv, as
the image has it, is byte for byte what a fresh install gives, and going back gives the first
venv again."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.builds import AppBuild

from python_buildpack_dev.platform.phases import BuildResult

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parents[1] / "fixtures" / "apps"

FIRST = "flask==3.1.3\ngunicorn==23.0.0\nsix==1.16.0\ntyping_extensions==4.12.2\n"
CHANGED = "flask==3.1.3\ngunicorn==22.0.0\nsix==1.17.0\nattrs==25.3.0\n"
# Every entry of the image's venv: a file's digest, a link's target, or "dir".
SNAPSHOT = """import hashlib, json, os
root, out = os.environ["VIRTUAL_ENV"], {}
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        out[os.path.relpath(p, root)] = ("-> " + os.readlink(p) if os.path.islink(p) else
            hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.isfile(p) else "dir")
print(json.dumps(out))
"""


def venv_files(app: AppBuild) -> dict[str, str]:
    """The snapshot, byte-code by its presence: compiling a module alone or among others can
    give different bytes (marshal's references), whichever way the venv is made."""
    listed = app.run(["python", "-B", "-c", SNAPSHOT])
    assert listed.returncode == 0, listed.stderr
    return {path: "pyc" if path.endswith(".pyc") else digest for path, digest in json.loads(listed.stdout).items()}


def distributions_files(files: dict[str, str]) -> dict[str, str]:
    """What does not name the venv's path (another app's venv has another): its site-packages
    but the RECORD files, which list the scripts' digests, and the `.pth` file of the pip outside."""
    return {path: digest for path, digest in files.items()
            if "/site-packages/" in path and not path.endswith(("/RECORD", ".pth"))}  # fmt: skip


def updated(app: AppBuild, requirements: str | None = None) -> BuildResult:
    if requirements is not None:
        (app.source / "requirements.txt").write_text(requirements)
    result = app.build()
    assert result.ok, result.output
    assert "Updating from the cached dependencies' records while their files unpack" in result.output
    assert result.output.count("Unpacked the cached dependencies") == 1, result.output
    assert "Installing them all" not in result.output and "Discarding cached dependencies" not in result.output
    return result


def test_an_update_from_the_records_gives_a_fresh_install(make_reference_app: Callable[..., AppBuild]) -> None:
    app = make_reference_app("pip-flask", files={"requirements.txt": FIRST})
    assert app.build().ok
    first = venv_files(app)

    updated(app, CHANGED)
    changed = venv_files(app)
    fresh = make_reference_app("pip-flask", files={"requirements.txt": CHANGED})
    assert fresh.build().ok
    assert distributions_files(changed) == distributions_files(venv_files(fresh))
    assert not any("typing_extensions" in path for path in changed)
    check = app.run(["python", "-c", "import attrs, flask, six; print(six.__version__)"])
    assert check.stdout.strip() == "1.17.0", check.stderr

    updated(app, FIRST)
    assert venv_files(app) == first


def test_a_uv_lock_update_from_the_records_gives_a_fresh_install(make_reference_app: Callable[..., AppBuild]) -> None:
    # uv sync, exact by design, by the records alone: six removed, gunicorn moved back, attrs added.
    app = make_reference_app("uv-update")
    assert app.build().ok
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(FIXTURES / "uv-update-next" / name, app.source / name)
    updated(app)
    fresh = make_reference_app("uv-update-next")
    assert fresh.build().ok
    changed = venv_files(app)
    assert distributions_files(changed) == distributions_files(venv_files(fresh))
    assert not any(path.endswith("six.py") for path in changed)
