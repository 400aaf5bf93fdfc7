"""Cold builds take the short path: the runtime archive ships its byte-code (nothing compiled,
no ensurepip), and the pinned tool's wheel comes from the index while Python is installed, so
a uv app needs no pip at all.

The wheel is fetched from the real index with the machine's trust settings (a TLS-inspecting
proxy's CA), as a platform passes them; without network the build falls back to pip, which the
dependency tests cover.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest
from support.builds import AppBuild

from python_buildpack.tool_versions import TOOL_VERSIONS

pytestmark = pytest.mark.e2e

TRUST = {k: os.environ[k] for k in ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT") if k in os.environ}


def test_cold_uv_app_needs_no_pip_and_no_compile(make_app: Callable[..., AppBuild]) -> None:
    app = make_app("uv-basic", shared_cache=False)
    result = app.build(**TRUST, UV_SYSTEM_CERTS="1")
    assert result.ok, result.output
    assert f"Fetched uv {TOOL_VERSIONS['uv']} while Python was installed" in result.output
    assert "Installing pip" not in result.output
    assert not (app.layers / "pip").exists()
    assert "ensurepip" not in result.output and "compileall" not in result.output
    site = app.layers / "python" / "lib"
    assert not list(site.glob("python3*/site-packages/pip"))

    warm = app.build(**TRUST, UV_SYSTEM_CERTS="1")
    assert warm.ok, warm.output
    assert "Using cached dependencies" in warm.output


def test_cold_pip_app_fetches_pip_while_python_installs(make_app: Callable[..., AppBuild]) -> None:
    app = make_app("pip-flask", shared_cache=False)
    result = app.build(**TRUST)
    assert result.ok, result.output
    assert f"Fetched pip {TOOL_VERSIONS['pip']} while Python was installed" in result.output
    assert (app.layers / "pip" / "lib" / "pip" / "__main__.py").is_file()
    assert not list(app.layers.glob(".tool-wheels-*"))  # where the wheel was fetched and unpacked
    pycs = list((app.layers / "pip" / "lib" / "pip").rglob("*.pyc"))  # unchecked-hash byte-code only
    assert len(pycs) > 400 and {int.from_bytes(pyc.read_bytes()[4:8], "little") for pyc in pycs} == {1}


def test_cold_uv_installer_gets_the_venvs_pip_from_the_wheel_fetched_with_uvs(
    make_app: Callable[..., AppBuild],
) -> None:
    """BP_PYTHON_INSTALLER=uv: no pip layer, no `uv pip install pip`: pip's wheel comes with uv's."""
    app = make_app("pip-flask", shared_cache=False)
    result = app.build(**TRUST, UV_SYSTEM_CERTS="1", BP_PYTHON_INSTALLER="uv")
    assert result.ok, result.output
    assert f"Fetched uv {TOOL_VERSIONS['uv']} while Python was installed" in result.output
    assert not (app.layers / "pip").exists()
    site = next((app.layers / "venv" / "lib").glob("python3*/site-packages"))
    dist_info = site / f"pip-{TOOL_VERSIONS['pip']}.dist-info"
    assert (dist_info / "INSTALLER").read_text() == "pip\n"  # placed from the wheel, not by uv
    assert (site / "flask").is_dir()
    pip = subprocess.run([app.layers / "venv" / "bin" / "pip", "--version"], capture_output=True, text=True)
    assert pip.stdout.startswith(f"pip {TOOL_VERSIONS['pip']} from {site}"), pip.stdout + pip.stderr
    assert not list(app.layers.glob(".tool-wheels-*"))
