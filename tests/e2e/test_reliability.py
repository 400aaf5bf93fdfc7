"""Reliability: every bad input and fault we know of, fed to the real build.

Each case runs bin/detect and bin/build through the local lifecycle and checks that the build
fails clearly (an `! Error:` block naming the file or the problem, no traceback) and that the
next build, with the input fixed, succeeds and reuses the cache ("Using cached Python").
Damaged caches are not errors: the build must recover by itself.

To stay fast, every test starts from one warm app built once per module (a pip app with an
empty requirements.txt): its image and cache are restored with hard links at the same path
before each test, so the absolute paths inside the venv still hold.

    pytest -m reliability
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from support.builds import APPS, ARCH, BUILDPACK_DIR, PYTHON_MAJOR, PYTHON_VERSION, AppBuild, RuntimeMirror

from python_buildpack.stacks.table import archive_name
from python_buildpack_dev.emulated.builder import Builder
from python_buildpack_dev.emulated.launcher import run_in_image
from python_buildpack_dev.platform.build_image import host_trust_env
from python_buildpack_dev.platform.phases import BuildResult, ImageTarget
from python_buildpack_dev.platform.workspace import Workspace, link_tree, remove
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import Fault, serve

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]

ARCHIVE_22 = archive_name(PYTHON_VERSION, "22.04", ARCH)
ARCHIVE_24 = archive_name(PYTHON_VERSION, "24.04", ARCH)
STACK_22 = ImageTarget(distro_version="22.04", arch=ARCH)
STACK_24 = ImageTarget(distro_version="24.04", arch=ARCH)
CACHED_PYTHON = f"Using cached Python {PYTHON_VERSION}"


# --- the warm app every test starts from ------------------------------------------------------


@dataclass
class Seed:
    root: Path  # the workspace root every test builds in
    snapshot: Path  # the image and cache of the first build, kept aside
    platform_env: dict[str, str]

    def restore(self, *, copy: bool = False) -> Workspace:
        """Puts the seed's image and cache back at `root` (copies when `root` is another filesystem)."""
        for entry in list(self.root.iterdir()) if self.root.is_dir() else []:
            remove(entry)
        self.root.mkdir(parents=True, exist_ok=True)
        sources = [self.snapshot / "image", self.snapshot / "cache"]
        if copy:  # one `cp -a` keeps the hard links between the image and the cache
            subprocess.run(["cp", "-a", *map(str, sources), str(self.root)], check=True)
        else:
            for source in sources:
                link_tree(source, self.root / source.name)
        return Workspace(self.root)


@pytest.fixture(scope="module")
def seed(
    tmp_path_factory: pytest.TempPathFactory, runtime_mirror: RuntimeMirror, shared_download_cache: dict[str, str]
) -> Seed:
    base = tmp_path_factory.mktemp("reliability")
    source = base / "seed-app"
    source.mkdir()
    (source / "requirements.txt").write_text("")
    env = runtime_mirror.platform_env() | host_trust_env() | shared_download_cache
    app = AppBuild(source, Workspace(base / "ws"), env)
    result = app.build()
    assert result.ok, result.output
    snapshot = base / "snapshot"
    snapshot.mkdir()
    for name in ("image", "cache"):
        (base / "ws" / name).rename(snapshot / name)
    return Seed(base / "ws", snapshot, env)


@pytest.fixture
def warm_app(seed: Seed, tmp_path: Path) -> Callable[..., AppBuild]:
    """warm_app(fixture_name=None, files={...}): an app whose last build is the seed's."""

    def make(fixture_name: str | None = None, files: dict[str, str | bytes] | None = None) -> AppBuild:
        source = tmp_path / "app"
        if fixture_name:
            shutil.copytree(APPS / fixture_name, source, symlinks=True)
        else:
            source.mkdir()
            (source / "requirements.txt").write_text("")
        for rel, content in (files or {}).items():
            write(source / rel, content)
        return AppBuild(source, seed.restore(), dict(seed.platform_env))

    return make


def write(path: Path, content: str | bytes) -> None:
    """Replaces a file (never writes through a hard link shared with the seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_bytes(content.encode() if isinstance(content, str) else content)


# --- what every case checks -------------------------------------------------------------------


def error_block(output: str) -> str:
    return output[output.index("! Error:") :] if "! Error:" in output else ""


def assert_clean_failure(result: BuildResult, *names: str, in_block: bool = True) -> str:
    """A failed build with an error block, no traceback, and `names` in the block (or the log)."""
    out = result.output
    assert not result.ok, out
    assert "Traceback" not in out, out
    block = error_block(out)
    assert block, f"no '! Error:' block in:\n{out}"
    where = block if in_block else out
    # The block's lines are wrapped: a phrase may span two of them (where depends on path lengths).
    unwrapped = re.sub(r"\s*\n!? ?", " ", where)
    for name in names:
        assert name in where or name in unwrapped, f"{name!r} not in:\n{where}"
    return block


def assert_recovers(app: AppBuild, *, deps_cached: bool = True) -> BuildResult:
    """The next build succeeds and reuses the cached runtime (and dependencies)."""
    result = app.build()
    assert result.ok, result.output
    assert CACHED_PYTHON in result.output, result.output
    if deps_cached:
        assert "Using cached dependencies" in result.output, result.output
    return result


# --- version files: garbage, huge files, symlinks out of the app ----------------------------------


def fifo_outside(tmp_path: Path) -> Path:
    fifo = tmp_path / "outside" / "fifo"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    return fifo


# (file, what it becomes, words the error must contain)
VERSION_FILE_CASES: dict[str, tuple[str, Callable[[Path], str | bytes | Path], tuple[str, ...]]] = {
    "python-version-binary": (".python-version", lambda _: os.urandom(512) + b"\xff", (".python-version", "UTF-8")),
    "runtime-txt-binary": ("runtime.txt", lambda _: b"python-3.1\xc3\x28" + os.urandom(64), ("runtime.txt", "UTF-8")),
    "python-version-control-chars": (".python-version", lambda _: "\x00\x01\x1b[31m3.11\x7f", (".python-version",)),
    "python-version-huge": (".python-version", lambda _: f"{PYTHON_MAJOR}\n" * 3_000_000, (".python-version", "larger")),
    "runtime-txt-huge": ("runtime.txt", lambda _: b"python-" + b"3" * 20_000_000, ("runtime.txt", "larger")),
    "python-version-to-dev-zero": (".python-version", lambda _: Path("/dev/zero"), (".python-version", "not a regular file")),
    "python-version-to-fifo": (".python-version", fifo_outside, (".python-version", "not a regular file")),
    "python-version-link-loop": (".python-version", lambda _: Path(".python-version"), (".python-version", "symbolic links")),
    "runtime-txt-to-etc-passwd": ("runtime.txt", lambda _: Path("/etc/passwd"), ("runtime.txt",)),
    "pipfile-lock-to-dev-urandom": ("Pipfile.lock", lambda _: Path("/dev/urandom"), ("Pipfile.lock", "not a regular file")),
}


@pytest.mark.parametrize("case", list(VERSION_FILE_CASES))
def test_bad_version_file(warm_app: Callable[..., AppBuild], tmp_path: Path, case: str) -> None:
    name, make, words = VERSION_FILE_CASES[case]
    app = warm_app()
    if name == "Pipfile.lock":
        write(app.source / "Pipfile", "[packages]\n")  # Pipfile.lock is read only next to a Pipfile
    content = make(tmp_path)
    if isinstance(content, Path):
        (app.source / name).symlink_to(content)
    else:
        write(app.source / name, content)
    failed = app.build()  # a FIFO or a device must not block the build
    assert_clean_failure(failed, *words)

    (app.source / name).unlink()
    (app.source / "Pipfile").unlink(missing_ok=True)
    assert_recovers(app)


def test_requirements_txt_linked_to_etc_passwd(warm_app: Callable[..., AppBuild]) -> None:
    app = warm_app()
    (app.source / "requirements.txt").unlink()
    (app.source / "requirements.txt").symlink_to("/etc/passwd")
    failed = app.build()
    assert_clean_failure(failed, "requirements.txt")
    assert CACHED_PYTHON in failed.output

    write(app.source / "requirements.txt", "")
    assert_recovers(app)


# --- the runtime catalogue ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('default = "3.1\n[stacks\n', ("not valid TOML",)),
        ('default = 3\n[stacks.scalingo-22]\n"3.11" = []\n', ("default",)),
    ],
    ids=["not-toml", "wrong-types"],
)
def test_bad_runtime_catalogue(warm_app: Callable[..., AppBuild], tmp_path: Path, content: str | bytes, words: tuple[str, ...]) -> None:
    app = warm_app()
    catalog = tmp_path / "bad-catalog.toml"
    write(catalog, content)
    failed = app.build(BP_PYTHON_RUNTIME_CATALOG=str(catalog))
    assert_clean_failure(failed, str(catalog), "BP_PYTHON_RUNTIME_CATALOG", *words)
    assert_recovers(app)


# --- package manager files: Pipfile, Pipfile.lock, pyproject.toml, uv.lock, poetry.lock -----------


def broken_toml(good: bytes) -> bytes:
    """Half of the file, then an unterminated table and inline table."""
    return good[: len(good) // 2] + b'\n[[[ = {"\n'


@pytest.mark.parametrize(
    ("fixture_name", "files", "manager"),
    [
        ("uv-basic", ("pyproject.toml", "uv.lock"), "uv"),
        ("poetry-basic", ("pyproject.toml", "poetry.lock"), "poetry"),
        ("pipenv-basic", ("Pipfile.lock", "Pipfile"), "pipenv"),
    ],
    ids=["uv", "poetry", "pipenv"],
)
def test_malformed_package_manager_files(
    warm_app: Callable[..., AppBuild], fixture_name: str, files: tuple[str, ...], manager: str
) -> None:
    app = warm_app(fixture_name)
    first = app.build()
    assert first.ok, first.output
    assert CACHED_PYTHON in first.output
    for name in files:
        path = app.source / name
        good = path.read_bytes()
        write(path, broken_toml(good))
        failed = app.build()
        block = assert_clean_failure(failed, name)
        if name == "Pipfile.lock":
            assert "not valid JSON" in block
        else:
            assert manager in block
        write(path, good)
        assert_recovers(app)


# --- layer metadata: damaged cache entries are dropped, never a crash ----------------------------


@pytest.mark.parametrize(
    ("layer", "content", "rebuilt"),
    [
        # The lifecycle cannot read it: the copy is not restored. The venv is the image's layer,
        # its files not needed by this build.
        ("venv-packed", b"\x00\x9c[[[ not toml", "Using cached dependencies"),
        # Valid TOML, not our schema: restored, then refused (and dropped) by the buildpack.
        ("venv-packed", b"[types]\ncache = true\n[metadata]\npython_version = 3\n", "Using cached dependencies"),
    ],
    ids=["venv-packed-garbage", "venv-packed-wrong-schema"],
)
def test_damaged_layer_metadata_in_the_cache(
    warm_app: Callable[..., AppBuild], layer: str, content: bytes, rebuilt: str
) -> None:
    app = warm_app()
    write(app.workspace.cache / f"{layer}.toml", content)
    result = app.build()
    assert result.ok, result.output
    assert "Traceback" not in result.output
    assert rebuilt in result.output, result.output
    again = app.build()
    assert again.ok, again.output
    assert CACHED_PYTHON in again.output and "Using cached dependencies" in again.output


class CorruptingBuilder(Builder):
    """Garbles one restored `<layer>.toml` between restore and build, as a bad disk would."""

    def __init__(self, *args: object, layer: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.layer = layer

    def _restore(self) -> None:
        super()._restore()
        write(self.ws.buildpack_layers / f"{self.layer}.toml", b"\xde\xad\xbe\xef = = =\n")


def test_a_damaged_packed_copy_is_made_again(warm_app: Callable[..., AppBuild]) -> None:
    """A packed copy cut short (full disk, killed export) is never trusted: the venv is installed
    again, and the next build has a sound copy."""
    app = warm_app()
    archive = app.workspace.cache / "venv-packed" / "layer.tar.zst"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    write(app.source / "requirements.txt", "six==1.17.0\n")
    result = app.build()
    assert result.ok, result.output
    assert "Updating cached dependencies since requirements.txt changed" in result.output
    assert "Discarding their cached copy since it could not be unpacked" in result.output
    assert "Installing dependencies with" in result.output and "Traceback" not in result.output
    write(app.source / "requirements.txt", "six==1.17.0\nidna==3.10\n")
    again = app.build()
    assert again.ok and "Unpacked the cached dependencies (" in again.output, again.output
    assert "Discarding their cached copy" not in again.output


def test_damaged_restored_layer_metadata(warm_app: Callable[..., AppBuild]) -> None:
    app = warm_app()
    builder = CorruptingBuilder(BUILDPACK_DIR, app.workspace, target=app.target, platform_env=app.platform_env, layer="venv")
    result = builder.build(app.source)
    assert result.ok, result.output
    assert "Discarding cached dependencies since its metadata file could not be read" in result.output
    assert_recovers(app)


# --- runtime archives: hostile members, through the whole build ------------------------------------


def tar_zst(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        python = tarfile.TarInfo("bin/python3")
        python.size, python.mode = 10, 0o755
        tar.addfile(python, io.BytesIO(b"#!/bin/sh\n"))
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info, data


def hostile_archives(outside: Path) -> dict[str, tuple[bytes, str]]:
    """Archive bytes and the words the error must contain; `outside` must stay empty."""
    return {
        "absolute-path": (tar_zst([member(str(outside / "owned"), data=b"owned")]), "absolute path"),
        "absolute-symlink": (tar_zst([member("lib", tarfile.SYMTYPE, str(outside))]), "absolute path"),
        "relative-symlink-out": (tar_zst([member("lib", tarfile.SYMTYPE, "../../../../../../../" + str(outside))]), "outside"),
        "hard-link-out": (tar_zst([member("bin/passwd", tarfile.LNKTYPE, "/etc/passwd")]), "'/etc/passwd'"),
        "device": (tar_zst([member("bin/null", tarfile.CHRTYPE)]), "device file"),
        "fifo": (tar_zst([member("bin/fifo", tarfile.FIFOTYPE)]), "FIFO"),
        "truncated": (b"", "corrupt"),  # filled in by the test: a real archive cut in half
    }


@contextmanager
def mirror_serving(tmp_path: Path, archive: bytes, sha256: str | None = None) -> Iterator[dict[str, str]]:
    """A mirror with the stack-24 archive replaced; yields the platform env pointing at it."""
    directory = tmp_path / "mirror"
    directory.mkdir()
    (directory / ARCHIVE_24).write_bytes(archive)
    stacks = {"scalingo-22": {PYTHON_MAJOR: PYTHON_VERSION}, "scalingo-24": {PYTHON_MAJOR: PYTHON_VERSION}}
    pins = {ARCHIVE_24: sha256} if sha256 else None
    catalog = write_catalog(directory / "catalog.toml", stacks, default=PYTHON_MAJOR, artifacts=pins)
    with serve(directory) as url:
        yield {"BP_PYTHON_RUNTIME_BASE_URL": url, "BP_PYTHON_RUNTIME_CATALOG": str(catalog)}


@pytest.mark.parametrize("case", list(hostile_archives(Path("/x"))))
def test_hostile_runtime_archive(
    warm_app: Callable[..., AppBuild], runtime_mirror: RuntimeMirror, tmp_path: Path, case: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive, words = hostile_archives(outside)[case]
    if case == "truncated":
        whole = runtime_mirror.archive("scalingo-24").read_bytes()
        archive = whole[: len(whole) // 2]
    app = warm_app()
    good_env = dict(app.platform_env)
    app.target = STACK_24
    with mirror_serving(tmp_path, archive) as evil_env:
        app.platform_env |= evil_env
        failed = app.build()
    assert_clean_failure(failed, ARCHIVE_24, words)
    assert not any(outside.iterdir()), "the archive wrote outside the layer"
    assert not (app.layers / "python").exists(), "a half-installed runtime was left in the layer"
    assert not (app.layers.parent / "owned").exists() and not (app.layers / "owned").exists()

    app.platform_env, app.target = good_env, STACK_22
    assert_recovers(app)


# --- downloads: truncated bodies and a server that stops sending ---------------------------------


def runtime_works(app: AppBuild) -> None:
    proc = run_in_image(app.workspace, ["python", "-c", "import ssl, sqlite3; print('ok')"])
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_cut_stalled_then_missing_download(warm_app: Callable[..., AppBuild], runtime_mirror: RuntimeMirror) -> None:
    """A connection cut mid-body, a stall longer than the read timeout (60 s), then a 404:
    the first two are retried, the last ends the build clearly, and the cache is intact."""
    app = warm_app()
    app.target = STACK_24
    runtime_mirror.faults.drop(ARCHIVE_24, after=1_000_000, times=1)
    runtime_mirror.faults.add(ARCHIVE_24, Fault(drop_after=2_000_000, hang=75, times=1))
    runtime_mirror.faults.fail(ARCHIVE_24, 404, times=None)
    try:
        failed = app.build()
    finally:
        runtime_mirror.faults.clear()
    assert "Download attempt 1 of 4 failed (connection dropped after 1000000 of" in failed.output
    assert "Download attempt 2 of 4 failed (no data received for 60s after 2000000 bytes)" in failed.output
    assert_clean_failure(failed, "404", ARCHIVE_24)
    assert not (app.layers / "python").exists() and not list(app.layers.glob(".*.download*"))

    app.target = STACK_22
    assert_recovers(app)


# --- a full disk ---------------------------------------------------------------------------------


def tree_bytes(root: Path) -> int:
    seen: set[int] = set()
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


@contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[None]:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a full disk is simulated with a small tmpfs, which only root can mount")
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes // 1024}k", "tmpfs", str(path)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"a full disk is simulated with a small tmpfs, and mounting one failed: {proc.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path, leave: int) -> Path:
    """A file taking all the free space of the filesystem but `leave` bytes."""
    st = os.statvfs(directory)
    filler = directory / "filler"
    with filler.open("wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(st.f_bavail * st.f_frsize - leave, 1))
    return filler


class FillingBuilder(Builder):
    """Fills the disk once the layers are restored, but `leave` bytes: the build runs out of space."""

    def __init__(self, *args: object, leave: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.leave = leave
        self.filler: Path | None = None

    def _restore(self) -> None:
        super()._restore()
        self.filler = fill(self.ws.root, self.leave)


def build_on_a_full_disk(app: AppBuild, leave: int) -> BuildResult:
    builder = FillingBuilder(BUILDPACK_DIR, app.workspace, target=app.target, platform_env=app.platform_env,
                             leave=leave)
    try:
        return builder.build(app.source)
    finally:
        if builder.filler is not None:
            builder.filler.unlink()


def test_full_disk(seed: Seed, tmp_path: Path) -> None:
    remove(seed.root)
    # Room before each fill: the image and the cache, which grow by Django's venv after the
    # first recovery, and the layers restored from the cache (copies). Each build fills the
    # rest itself, so a larger disk changes nothing but the margin (a Django release a few MB
    # larger once left too little room for the restore).
    size = 3 * tree_bytes(seed.snapshot) + 300 * 1024 * 1024
    with tmpfs(seed.root, size):
        app = AppBuild(tmp_path / "app", seed.restore(copy=True), dict(seed.platform_env))
        write(app.source / "requirements.txt", "django==5.2.19\n")

        # Room for the app and the venv, not for Django. (The runtime, not cached for this app,
        # is downloaded again: the disk may fill while it is extracted, or while pip installs.)
        failed = build_on_a_full_disk(app, leave=3 * 1024 * 1024)
        assert_clean_failure(failed, "No space left on device", in_block=False)
        assert "disk space" in error_block(failed.output)
        result = app.build()
        assert result.ok, result.output
        assert CACHED_PYTHON in result.output

        # Another stack: the new runtime takes the place of the old one (extracted as it
        # downloads, no archive on disk), and the disk is full again when pip installs.
        app.target = STACK_24
        failed = build_on_a_full_disk(app, leave=1024 * 1024)
        assert_clean_failure(failed, "disk space")
        app.target = STACK_22
        assert_recovers(app)
        proc = run_in_image(app.workspace, ["python", "-c", "import django; print(django.__version__)"])
        assert proc.stdout.strip() == "5.2.19", proc.stderr
        remove(app.workspace.layers)  # before the unmount: nothing may keep the tmpfs busy


# --- an interrupted build --------------------------------------------------------------------------


class InterruptingBuilder(Builder):
    """Sends SIGTERM to bin/build once its log shows `trigger` (as a platform cancelling a build)."""

    def __init__(self, *args: object, trigger: str, delay: float, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.trigger, self.delay = trigger, delay
        self.signalled = False

    def on_output(self, phase: str, line: str, proc: subprocess.Popen[str]) -> None:
        if phase == "build" and not self.signalled and self.trigger in line:
            time.sleep(self.delay)  # let the installer get going
            proc.send_signal(signal.SIGTERM)
            self.signalled = True


def processes_using(path: Path) -> list[str]:
    """Command lines of live processes that mention `path` (orphaned installers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if str(path) in cmdline and "zombie" not in state:
            found.append(cmdline)
    return found


def test_sigterm_mid_install_then_rebuild_from_cache(warm_app: Callable[..., AppBuild]) -> None:
    app = warm_app()
    write(app.source / "requirements.txt", "django==5.2.19\n")
    builder = InterruptingBuilder(
        BUILDPACK_DIR,
        app.workspace,
        target=app.target,
        platform_env=app.platform_env,
        trigger="Installing dependencies with",
        delay=1.0,
    )
    interrupted = builder.build(app.source)
    assert builder.signalled, interrupted.output
    assert interrupted.build is not None and interrupted.build.exit_code != 0
    block = assert_clean_failure(interrupted, "interrupted")
    assert "Done (" not in interrupted.output
    deadline = time.monotonic() + 20
    while processes_using(app.workspace.root) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not processes_using(app.workspace.root), "installer processes outlived the build"
    # The failed build changed neither the image nor the cache.
    assert (app.workspace.image_layers / "python.toml").is_file(), block
    assert (app.workspace.cache / "venv-packed.toml").is_file(), block

    result = app.build()
    assert result.ok, result.output
    assert CACHED_PYTHON in result.output
    assert "Updating cached dependencies since requirements.txt changed" in result.output
    proc = run_in_image(app.workspace, ["python", "-c", "import django; print(django.__version__)"])
    assert proc.stdout.strip() == "5.2.19", proc.stderr
