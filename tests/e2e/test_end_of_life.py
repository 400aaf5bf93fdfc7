"""A catalogue (a private mirror's) that still offers an end-of-life major: the build works
and warns (issue 10). The runtime is a real local CPython 3.10 packed and served over loopback.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path

import pytest
from support.builds import ARCH, AppBuild

from python_buildpack_dev.emulated.launcher import run_in_image
from python_buildpack_dev.runtime_mirror.archives import file_sha256, make_runtime_archive
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import serve

pytestmark = pytest.mark.e2e


def local_python(major: str) -> Path | None:
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(p for p in versions.glob(f"{major}.*") if (p / "bin" / "python3").exists())
    return found[-1] if found else None


def test_end_of_life_major_from_a_catalogue_builds_with_a_warning(
    make_app: Callable[..., AppBuild], tmp_path: Path
) -> None:
    home = local_python("3.10")
    if home is None or platform.system() != "Linux":
        pytest.skip("no local Python 3.10")
    version = home.name
    mirror = tmp_path / "mirror"
    archive = make_runtime_archive(home, mirror, version, "22.04", ARCH)
    catalog = write_catalog(
        mirror / "catalog.toml",
        {"scalingo-22": {"3.10": version, "3.13": "3.13.11"}},
        default="3.13",
        artifacts={archive.name: file_sha256(archive)},
    )
    app = make_app(files={"requirements.txt": "", ".python-version": "3.10\n"})
    with serve(mirror) as base_url:
        result = app.build(BP_PYTHON_RUNTIME_BASE_URL=base_url, BP_PYTHON_RUNTIME_CATALOG=str(catalog))
    assert result.ok, result.output
    assert f"Using Python {version} (3.10 from .python-version)" in result.output
    assert (
        "   ! Warning: Python 3.10 is end-of-life\n"
        "   ! Python 3.10 is end-of-life: it gets no security fixes, and builds will refuse it once\n"
        "   ! the platform stops offering it. Upgrade the app to Python 3.13: test it locally, then\n"
        "   ! request 3.13 in .python-version, for example:\n"
        "   !\n"
        "   !     $ echo 3.13 > .python-version\n"
    ) in result.output
    assert run_in_image(app.workspace, ["python", "--version"]).stdout.strip() == f"Python {version}"
