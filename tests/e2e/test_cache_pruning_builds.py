"""Three deploys with changed pins on the reference engine: the download cache keeps what the
last two installs used and loses the rest, through the lifecycle's real cache restore.

uv (BP_PYTHON_INSTALLER=uv) fills its cache from the real index whatever the responses'
cache headers. After each install uv's own pruning for CI caches drops the pre-built wheels,
so the deploys build six and idna from their sdists (`--no-binary`): the wheels uv
builds are what its cache keeps, and what the buildpack's pruning keeps or drops by release.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from support.builds import AppBuild, Reference

UV = {"BP_PYTHON_INSTALLER": "uv"}
PINS = ("six==1.16.0\nidna==3.9\n", "six==1.17.0\nidna==3.9\n", "six==1.17.0\nidna==3.10\n")
DEPLOYS = tuple(f"--no-binary six\n--no-binary idna\n{pins}" for pins in PINS)


def built_releases(cache: Path) -> dict[str, Path]:
    """`name version` → the directory of the wheels uv built from that release's sdist."""
    return {f"{d.parent.name} {d.name}": d for d in cache.glob("sdists-v*/pypi/*/*") if d.is_dir()}


def pruned(log: str) -> list[str]:
    """What the buildpack's pruning says it dropped: `name version` (a release) or `name` (a project)."""
    lines = re.findall(r"- Pruned cached uv downloads of (.*) \([\d.]+ MB\) since", log)
    return [label for line in lines for label in re.split(r", | and ", line)]


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
    # The first deploys prune no release (the build back-ends' index pages go: no install has them).
    assert not [label for log in logs[:2] for label in pruned(log) if " " in label]
    assert [label for label in pruned(logs[2]) if " " in label] == ["six 1.16.0"]
    assert "since none of the last 2 installs used them" in logs[2]
    assert all("Pruned cached uv downloads (" in log for log in logs)  # uv's own pruning, every install
    releases = built_releases(cache)
    assert sorted(releases) == ["idna 3.10", "idna 3.9", "six 1.17.0"]  # the second deploy's idna stays
    # The entries in use came back whole from the lifecycle's cache: each still holds its wheel.
    assert all(list(directory.glob("*/*.whl")) for directory in releases.values())
    assert not list(cache.glob("archive-v0/*"))  # no unzipped pre-built wheel is restored at every build

    versions = app.run(["python", "-c", "import six, idna; print(six.__version__, idna.__version__)"])
    assert versions.stdout.split() == ["1.17.0", "3.10"], versions.stderr
