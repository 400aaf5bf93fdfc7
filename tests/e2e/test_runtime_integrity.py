"""Runtime integrity end to end: the digest recorded in the python layer (trust on first use),
the strict mode, and the SBOM hash. Real builds, the real runtime archive over loopback; the
"rebuilt" archive is the same tar compressed again, so only its bytes differ.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.archives import ARCHIVE, Mirror
from support.builds import PYTHON_VERSION, AppBuild, RuntimeMirror

from python_buildpack.cnb import toml_io
from python_buildpack_dev.runtime_mirror.archives import file_sha256
from python_buildpack_dev.runtime_mirror.server import Faults, serve

pytestmark = pytest.mark.e2e

MakeApp = Callable[..., AppBuild]
STRICT = {"BP_PYTHON_RUNTIME_REQUIRE_PIN": "true"}




@pytest.fixture
def mirror(tmp_path: Path, runtime_mirror: RuntimeMirror) -> Mirror:
    return Mirror(tmp_path / "mirror", runtime_mirror.archive("scalingo-22"))


def recorded_sha256(app: AppBuild) -> str | None:
    metadata = toml_io.load(app.layers / "python.toml").get("metadata", {})
    return metadata.get("archive_sha256")


def sbom_hashes(app: AppBuild) -> list[dict[str, str]]:
    document = json.loads((app.layers / "python.sbom.cdx.json").read_text())
    runtime = next(c for c in document["components"] if c["name"] == "python")
    return runtime.get("hashes", [])


def lose_the_cache(app: AppBuild) -> None:
    """The app's cache is gone (cleared, new builder): the image still has the layer's metadata."""
    shutil.rmtree(app.workspace.cache)


def flat(output: str) -> str:
    """The log with wrapped warning and error lines joined again."""
    return re.sub(r"\n *! ?(?=\S)", " ", output)


def assert_clean_failure(output: str) -> None:
    assert "Traceback" not in output
    assert "! Error:" in output


def test_unpinned_archive_digest_is_recorded_and_a_changed_archive_warns(make_app: MakeApp, mirror: Mirror) -> None:
    original = file_sha256(mirror.source)
    faults = Faults()
    with serve(mirror.directory, faults) as url:
        app = make_app(files={"requirements.txt": ""})
        app.platform_env |= {"BP_PYTHON_RUNTIME_BASE_URL": url, "BP_PYTHON_RUNTIME_CATALOG": mirror.catalog()}
        first = app.build()
        assert first.ok, first.output
        assert recorded_sha256(app) == original
        assert sbom_hashes(app) == [{"alg": "SHA-256", "content": original}]
        record = toml_io.load(app.layers / "python-archive.toml")
        assert record["types"] == {"launch": True, "build": False, "cache": False}
        assert record["metadata"] == {"file": ARCHIVE, "sha256": original}
        assert not any((app.layers / "python-archive").iterdir())

        warm = app.build()  # unpinned and recorded: the layer is reused, nothing downloaded
        assert warm.ok, warm.output
        assert f"Using cached Python {PYTHON_VERSION}" in warm.output
        assert faults.count(ARCHIVE) == 1
        assert sbom_hashes(app) == [{"alg": "SHA-256", "content": original}]

        rebuilt = mirror.serve_rebuilt()
        lose_the_cache(app)
        # A dependency change: the build needs the runtime's files, which the cache no longer has.
        (app.source / "requirements.txt").write_text("six==1.17.0\n")
        changed = app.build()
    assert changed.ok, changed.output
    assert f"Warning: {ARCHIVE} changed since this app's previous build" in changed.output
    assert f"previous sha256 {original}" in changed.output and f"now      sha256 {rebuilt}" in changed.output
    assert "python -m python_buildpack.runtime.pin" in flat(changed.output)
    assert recorded_sha256(app) == rebuilt
    assert sbom_hashes(app) == [{"alg": "SHA-256", "content": rebuilt}]


def test_strict_mode_refuses_unpinned_archives(make_app: MakeApp, mirror: Mirror) -> None:
    with serve(mirror.directory) as url:
        app = make_app(files={"requirements.txt": ""})
        app.platform_env |= {"BP_PYTHON_RUNTIME_BASE_URL": url, "BP_PYTHON_RUNTIME_CATALOG": mirror.catalog()}
        refused = app.build(**STRICT)
        assert not refused.ok
        assert_clean_failure(refused.output)
        assert f"No sha256 pin for {ARCHIVE}" in refused.output
        assert "python -m python_buildpack.runtime.pin --base-url <mirror URL>" in refused.output
        assert "BP_PYTHON_RUNTIME_REQUIRE_PIN=false" in flat(refused.output)

        invalid = app.build(BP_PYTHON_RUNTIME_REQUIRE_PIN="sometimes")
        assert not invalid.ok
        assert_clean_failure(invalid.output)
        assert "Invalid BP_PYTHON_RUNTIME_REQUIRE_PIN: 'sometimes'" in invalid.output

        app.platform_env["BP_PYTHON_RUNTIME_CATALOG"] = mirror.catalog(file_sha256(mirror.source))
        pinned = app.build(**STRICT)
        assert pinned.ok, pinned.output


def test_strict_mode_stops_on_a_changed_archive_until_accepted(make_app: MakeApp, mirror: Mirror) -> None:
    original = file_sha256(mirror.source)
    with serve(mirror.directory) as url:
        app = make_app(files={"requirements.txt": ""})
        app.platform_env |= {"BP_PYTHON_RUNTIME_BASE_URL": url, "BP_PYTHON_RUNTIME_CATALOG": mirror.catalog(original)}
        assert app.build(**STRICT).ok

        # The mirror's archive is rebuilt and the catalogue re-pinned: the pin is honoured,
        # but the app's previous build installed other bytes.
        rebuilt = mirror.serve_rebuilt()
        app.platform_env["BP_PYTHON_RUNTIME_CATALOG"] = mirror.catalog(rebuilt)
        lose_the_cache(app)
        stopped = app.build(**STRICT)
        assert not stopped.ok
        assert_clean_failure(stopped.output)
        assert f"{ARCHIVE} changed since this app's previous build" in stopped.output
        assert f"previous sha256 {original}" in stopped.output and f"now      sha256 {rebuilt}" in stopped.output
        assert "its pin was changed too" in flat(stopped.output)

        accepted = app.build()  # the documented way to accept it: one build without strict mode
        assert accepted.ok, accepted.output
        assert f"Warning: {ARCHIVE} changed since this app's previous build" in accepted.output
        assert recorded_sha256(app) == rebuilt
        again = app.build(**STRICT)
    assert again.ok, again.output
    assert f"Using cached Python {PYTHON_VERSION}" in again.output
