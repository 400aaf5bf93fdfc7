"""Three deploys with changed pins on the reference engine: the download cache keeps what the
last two installs used and loses the rest, through the lifecycle's real cache restore.

uv (BP_PYTHON_INSTALLER=uv) fills its cache from the real index whatever the responses'
cache headers; its unpacked wheels are links inside the cache layer, which must come back
whole from the lifecycle's cache for the entries in use.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from support.builds import AppBuild, Reference

UV = {"BP_PYTHON_INSTALLER": "uv"}
DEPLOYS = ("six==1.16.0\nidna==3.9\n", "six==1.17.0\nidna==3.9\n", "six==1.17.0\nidna==3.10\n")


def cached_releases(cache: Path) -> dict[str, Path]:
    """`name version` → the unpacked wheel each of uv's wheel links points to."""
    links = [p for p in cache.glob("wheels-v*/pypi/*/*") if p.is_symlink()]
    return {f"{link.parent.name} {link.name.split('-')[0]}": link.resolve() for link in links}


def test_three_deploys_prune_the_release_no_recent_install_used(
    make_app: Callable[..., AppBuild], reference: Reference
) -> None:
    app = make_app(files={"requirements.txt": DEPLOYS[0]}, shared_cache=False)  # the cache is the layer
    app.reference = reference
    logs = []
    for requirements in DEPLOYS:
        (app.source / "requirements.txt").write_text(requirements)
        result = app.build(**UV)
        assert result.ok, result.output
        logs.append(result.output)
    cache = app.layers / "uv-cache"

    assert all("Updating cached dependencies since requirements.txt changed" in log for log in logs[1:])
    assert "Pruned cached" not in logs[0] + logs[1]  # six 1.16.0 was the previous install's
    pruned = re.findall(r"- Pruned cached uv downloads of (.*) \([\d.]+ MB\) since (.*)", logs[2])
    assert pruned == [("six 1.16.0", "none of the last 2 installs used them")]
    # pip is cached too only when the venv's pip could not be placed from its prefetched wheel.
    releases = {name: target for name, target in cached_releases(cache).items() if not name.startswith("pip ")}
    assert sorted(releases) == ["idna 3.10", "idna 3.9", "six 1.17.0"]  # the second deploy's idna stays
    # The entries in use came back whole; the pruned release's unpacked wheel went with its link.
    assert all(any(target.glob("*.dist-info/RECORD")) for target in releases.values())
    archives = {p.resolve() for p in cache.glob("archive-v0/*")}
    assert set(releases.values()) <= archives <= set(cached_releases(cache).values())
    assert {"idna", "six"} <= {p.stem for p in cache.glob("simple-v*/pypi/*.rkyv")} <= {"idna", "six", "pip"}

    versions = app.run(["python", "-c", "import six, idna; print(six.__version__, idna.__version__)"])
    assert versions.stdout.split() == ["1.17.0", "3.10"], versions.stderr
