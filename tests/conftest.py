"""Shared fixtures: a private runtime mirror made from the test interpreter, and app builds
through the local lifecycle.

The runtime archive is real: `sys.base_prefix` of the interpreter running the tests, packed
as `.tar.zst`, pinned by sha256 in a catalogue and served over loopback HTTP. Download caches
of the installers are shared across the session (user settings `PIP_CACHE_DIR`, `UV_CACHE_DIR`,
... pass through the buildpack), except in tests that check the cache layers themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.builds import APPS, ARCH, PYTHON_MAJOR, PYTHON_VERSION, AppBuild, Reference, RuntimeMirror
from support.containers import PackEngine

from python_buildpack.stacks.table import STACK_TO_UBUNTU
from python_buildpack_dev.platform.build_image import build_user, grant_traverse, host_trust_env
from python_buildpack_dev.platform.phases import ImageTarget
from python_buildpack_dev.platform.tools import ReferenceTools
from python_buildpack_dev.platform.workspace import Workspace
from python_buildpack_dev.reference.builder import default_build_python
from python_buildpack_dev.runtime_mirror.archives import file_sha256, make_runtime_archive
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import Faults, serve

# Kept between sessions: archives and installer downloads are slow to make, not to check.
TEST_CACHE = Path(os.environ.get("BUILDPACK_TEST_CACHE", Path.home() / ".cache" / "python-buildpack-tests"))


@pytest.fixture(scope="session")
def runtime_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeMirror]:
    directory = tmp_path_factory.mktemp("runtime-mirror")
    pins = {}
    for ubuntu in STACK_TO_UBUNTU.values():
        archive = make_runtime_archive(
            Path(sys.base_prefix), directory, PYTHON_VERSION, ubuntu, ARCH, cache_dir=TEST_CACHE / "runtime-archives"
        )
        pins[archive.name] = file_sha256(archive)
    catalog = write_catalog(
        directory / "catalog.toml",
        {stack: {PYTHON_MAJOR: PYTHON_VERSION} for stack in STACK_TO_UBUNTU},
        default=PYTHON_MAJOR,
        artifacts=pins,
    )
    faults = Faults()
    with serve(directory, faults) as base_url:
        yield RuntimeMirror(directory, base_url, catalog, faults)


@pytest.fixture(scope="session")
def shared_download_cache() -> dict[str, str]:
    """User settings pointing every installer at one download cache for the whole session."""
    root = TEST_CACHE / "downloads"
    names = {"PIP_CACHE_DIR": "pip", "UV_CACHE_DIR": "uv", "POETRY_CACHE_DIR": "poetry", "PIPENV_CACHE_DIR": "pipenv"}
    for sub in names.values():
        (root / sub).mkdir(parents=True, exist_ok=True)
    return {name: str(root / sub) for name, sub in names.items()}


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The reference engine on the packaged buildpack (dev/setup builds the tools; CI requires them)."""
    from support.artifact import packaged_artifact

    tools = ReferenceTools.find()
    if tools is None:
        pytest.skip("no reference lifecycle in .tools/bin (dev/setup builds it when Go is available)")
    artifact = packaged_artifact(tmp_path_factory.getbasetemp() / "packaged")
    return Reference(tools, artifact.directory, default_build_python(ImageTarget(distro_version="22.04", arch=ARCH)))


@pytest.fixture(scope="session")
def reference_download_cache() -> dict[str, str]:
    """Like shared_download_cache, but owned by the build user the reference engine runs as."""
    root = TEST_CACHE / f"downloads-uid{build_user().uid}"
    names = {"PIP_CACHE_DIR": "pip", "UV_CACHE_DIR": "uv", "POETRY_CACHE_DIR": "poetry", "PIPENV_CACHE_DIR": "pipenv"}
    for sub in names.values():
        (root / sub).mkdir(parents=True, exist_ok=True)
    grant_traverse(root, lambda _: None)
    build_user().own(root)
    return {name: str(root / sub) for name, sub in names.items()}


@pytest.fixture
def make_reference_app(
    make_app: Callable[..., AppBuild], reference: Reference, reference_download_cache: dict[str, str]
) -> Callable[..., AppBuild]:
    """make_reference_app("pip-flask"): make_app, built and launched on the reference engine."""

    def _make(name: str | None = None, **kwargs: object) -> AppBuild:
        app = make_app(name, shared_cache=False, **kwargs)
        app.reference = reference
        app.platform_env |= reference_download_cache
        return app

    return _make


@pytest.fixture
def make_app(
    tmp_path: Path, runtime_mirror: RuntimeMirror, shared_download_cache: dict[str, str]
) -> Iterator[Callable[..., AppBuild]]:
    """make_app("pip-flask") copies a fixture app to a temp dir and returns an AppBuild for it."""
    counter = iter(range(1000))

    def _make(name: str | None = None, *, files: dict[str, str] | None = None, shared_cache: bool = True) -> AppBuild:
        source = tmp_path / f"app-{next(counter)}"
        if name:
            shutil.copytree(APPS / name, source, symlinks=True)
        else:
            source.mkdir()
        for rel, content in (files or {}).items():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            (source / rel).write_text(content)
        # CA settings reach builds only as platform env, as on a platform behind a TLS proxy
        env = runtime_mirror.platform_env() | host_trust_env() | (shared_download_cache if shared_cache else {})
        return AppBuild(source, Workspace(tmp_path / f"ws-{source.name}"), env)

    yield _make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ is e2e, so `-m "not e2e"` and `pytest tests/unit` agree."""
    e2e_dir = Path(__file__).parent / "e2e"
    for item in items:
        if e2e_dir in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def pack_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackEngine]:
    """The pack engine: the tier's Docker daemon, pack, the stand-in builders (made on first use,
    then reused) and a runtime mirror on 127.0.0.1 whose catalogue the builds read at
    /runtime-mirror. The mirror has this interpreter's version (the default) and a CPython the
    buildpack vendors its dependencies for, which build images without a usable python3 bootstrap."""
    from support.artifact import packaged_artifact

    from python_buildpack_dev.pack.commands import mirror_env
    from python_buildpack_dev.pack.daemon import find
    from python_buildpack_dev.pack.stand_ins import STACKS
    from python_buildpack_dev.package.targets import DEFAULT_PYTHONS
    from python_buildpack_dev.platform.build_image import local_interpreters

    docker = find()
    if isinstance(docker, str):
        pytest.skip(f"the container tier is off: {docker}")
    tools = ReferenceTools.find()
    if tools is None or tools.pack is None:
        pytest.skip("no pack in .tools/bin (dev/setup builds it when Go is available)")
    interpreters = local_interpreters()
    bootstrap = PYTHON_MAJOR if PYTHON_MAJOR in DEFAULT_PYTHONS else max(
        (v for v in DEFAULT_PYTHONS if v in interpreters), default=None)
    if bootstrap is None:
        pytest.skip(f"needs a local CPython of {', '.join(DEFAULT_PYTHONS)} for the bootstrap path")
    versions = {PYTHON_MAJOR: (Path(sys.base_prefix), PYTHON_VERSION)}
    if bootstrap != PYTHON_MAJOR:
        exe = interpreters[bootstrap]
        version = subprocess.run([str(exe), "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        versions[bootstrap] = (exe.parents[1], version)
    directory = tmp_path_factory.mktemp("container-mirror")
    pins = {}
    for ubuntu in STACKS.values():
        for prefix, version in versions.values():
            archive = make_runtime_archive(prefix, directory, version, ubuntu, ARCH,
                                           cache_dir=TEST_CACHE / "runtime-archives")
            pins[archive.name] = file_sha256(archive)
    catalog = write_catalog(directory / "catalog.toml",
                            {stack: {major: version for major, (_, version) in versions.items()} for stack in STACKS},
                            default=PYTHON_MAJOR, artifacts=pins)
    # The build user (1000) reads the catalogue through the mount.
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
    artifact = packaged_artifact(tmp_path_factory.getbasetemp() / "packaged")
    with serve(directory) as base_url:
        env, volumes = mirror_env({"BP_PYTHON_RUNTIME_BASE_URL": base_url, "BP_PYTHON_RUNTIME_CATALOG": str(catalog)}
                                  | host_trust_env())
        engine = PackEngine(docker, tools, artifact.directory, env, volumes)
        try:
            yield engine
        finally:
            engine.clean_up()
