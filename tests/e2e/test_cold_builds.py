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
import zipfile
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
    pyz = app.layers / "pip" / f"pip-{TOOL_VERSIONS['pip']}.pyz"
    assert [path.name for path in (app.layers / "pip").iterdir()] == [pyz.name]  # one file, cached as is
    assert not list(app.layers.glob(".tool-wheels-*"))  # where the wheel was fetched and unpacked
    with zipfile.ZipFile(pyz) as archive:  # unchecked-hash byte-code beside each source, for zipimport
        pycs = [archive.read(name) for name in archive.namelist() if name.endswith(".pyc")]
    assert len(pycs) > 400 and {int.from_bytes(pyc[4:8], "little") for pyc in pycs} == {1}


def test_cold_uv_installer_gives_the_venv_the_runtimes_pip(make_app: Callable[..., AppBuild]) -> None:
    """BP_PYTHON_INSTALLER=uv: no pip layer and no pip installed: `pip` runs the runtime's bundled wheel."""
    app = make_app("pip-flask", shared_cache=False)
    result = app.build(**TRUST, UV_SYSTEM_CERTS="1", BP_PYTHON_INSTALLER="uv")
    assert result.ok, result.output
    assert f"Fetched uv {TOOL_VERSIONS['uv']} while Python was installed" in result.output
    assert not (app.layers / "pip").exists()
    site = next((app.layers / "venv" / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("pip*.dist-info")) and not (site / "pip").exists()
    assert (site / "flask").is_dir()
    bundled = next((app.layers / "python" / "lib").glob("python3*/ensurepip/_bundled/pip-*.whl"))
    pip = subprocess.run([app.layers / "venv" / "bin" / "pip", "--version"], capture_output=True, text=True)
    assert pip.stdout.startswith(f"pip {bundled.name.split('-')[1]} from {bundled}/pip"), pip.stdout + pip.stderr
    assert "the runtime's while building" in result.output
    assert not list(app.layers.glob(".tool-wheels-*"))
