"""Trust on first use on the reference lifecycle: with the app's cache lost, the real restorer
still brings back the `python-archive` record from the previous image, so a rebuilt archive
is noticed. (The cached `python` layer's own metadata does not come back without its cache.)
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.archives import ARCHIVE, Mirror
from support.builds import AppBuild, RuntimeMirror

from python_buildpack_dev.platform.build_image import grant_traverse
from python_buildpack_dev.runtime_mirror.archives import file_sha256
from python_buildpack_dev.runtime_mirror.server import serve

pytestmark = pytest.mark.e2e


def test_a_rebuilt_archive_is_noticed_after_the_cache_is_lost(
    make_reference_app: Callable[..., AppBuild], runtime_mirror: RuntimeMirror, tmp_path: Path
) -> None:
    mirror = Mirror(tmp_path / "mirror", runtime_mirror.archive("scalingo-22"))
    original = file_sha256(mirror.source)
    with serve(mirror.directory) as url:
        app = make_reference_app(files={"requirements.txt": ""})
        catalog = Path(mirror.catalog())
        catalog.chmod(0o644)
        grant_traverse(tmp_path, lambda _: None)  # the build user reads the catalogue
        app.platform_env |= {"BP_PYTHON_RUNTIME_BASE_URL": url, "BP_PYTHON_RUNTIME_CATALOG": str(catalog)}
        assert app.build().ok

        rebuilt = mirror.serve_rebuilt()
        shutil.rmtree(app.workspace.cache)
        # A dependency change: the build needs the runtime's files, which the cache no longer has.
        (app.source / "requirements.txt").write_text("six==1.17.0\n")
        changed = app.build()
    assert changed.ok, changed.output
    assert f"Warning: {ARCHIVE} changed since this app's previous build" in changed.output
    assert f"previous sha256 {original}" in changed.output and f"now      sha256 {rebuilt}" in changed.output
    # Other archive bytes: the files stay for the exporter, which compares them with the image's.
    assert "Reusing layer 'scalingo/python:python'" in changed.output or "Adding layer 'scalingo/python:python'" in changed.output
