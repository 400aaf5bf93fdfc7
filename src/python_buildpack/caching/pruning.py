"""What a download cache keeps: the releases of the last few installs, nothing older.

pip, pipenv, poetry and uv add every release they fetch to their cache and drop none (pip and
uv can only purge a package wholly or everything), so the cache of an app whose pins drift
grows by each release it ever installed. After every install the buildpack records the venv's
distributions (name → version); a cache entry that belongs to a release (a downloaded or
built wheel, an sdist, uv's unpacked wheel) is pruned when none of the last `KEEP_INSTALLS`
installs had that release, and one that belongs to a project (uv's index page) when none had
that project.

Entries of no known release (pip's and poetry's cached index responses, which are replaced
in place, one per project page) are kept: they do not grow with versions. Builds that reuse
the venv install nothing and change nothing here.

Each tool's layout is read by `scan` (pip's is also pipenv's: pipenv runs pip with its cache).
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# This install and the one before: a pin reverted to the previous deploy's finds its files.
KEEP_INSTALLS = 2
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")
# uv's files beside an unpacked wheel's link: `<version>-<tags>.http` and so on.
_UV_POINTER_SUFFIXES = (".http", ".lock", ".msgpack", ".rkyv")
_DIST_INFO = re.compile(r"^([^/]+)-([^/-]+)\.dist-info/METADATA$")


@dataclass(frozen=True)
class Entry:
    """Files of the cache that serve one release (`version`) or a whole project (`version` None)."""

    project: str  # canonical name
    version: str | None
    paths: tuple[Path, ...]

    @property
    def label(self) -> str:
        return self.project if self.version is None else f"{self.project} {self.version}"


def canonical(name: str) -> str:
    """The normalised project name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def stale(entries: Iterable[Entry], installs: Sequence[Mapping[str, str]]) -> list[Entry]:
    """The entries that none of `installs` (each: canonical name → version) used."""
    releases = {(name, version.lower()) for install in installs for name, version in install.items()}
    projects = {name for install in installs for name in install}
    return [
        entry
        for entry in entries
        if (entry.project not in projects if entry.version is None else (entry.project, entry.version) not in releases)
    ]


def recent(current: Mapping[str, str], previous: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The installs to remember after this one: this one first, at most KEEP_INSTALLS."""
    this = {canonical(name): version.lower() for name, version in current.items()}
    return [this, *(dict(install) for install in previous)][:KEEP_INSTALLS]


# --- reading each tool's layout ------------------------------------------------------------------


def scan(tool: str, root: Path) -> list[Entry]:
    """The entries of a cache directory that belong to a release or a project."""
    if tool == "uv":
        return _uv(root)
    if tool == "poetry":
        return _archives(root / "artifacts")
    return [*_pip_http(root), *_archives(root / "wheels")]  # pip, and pipenv's pip


def _uv(root: Path) -> list[Entry]:
    entries = []
    # wheels-v*/pypi/<name>/<version>-<tags>[.http|.msgpack|...]; other indexes: index/<digest>/<name>/
    for project_dir in _uv_project_dirs(root, "wheels-v*"):
        stems: dict[str, list[Path]] = {}
        for path in project_dir.iterdir():
            stems.setdefault(_strip(path.name, _UV_POINTER_SUFFIXES), []).append(path)
        for stem, paths in stems.items():
            entries.append(Entry(canonical(project_dir.name), stem.split("-")[0].lower(), tuple(paths)))
    # sdists-v*/pypi/<name>/<version>/: wheels built from a source distribution
    for project_dir in _uv_project_dirs(root, "sdists-v*"):
        for version_dir in project_dir.iterdir():
            entries.append(Entry(canonical(project_dir.name), version_dir.name.lower(), (version_dir,)))
    # simple-v*/pypi/<name>.rkyv: the project's index page
    for index_dir in _uv_index_dirs(root, "simple-v*"):
        for path in index_dir.iterdir():
            if path.is_file():
                entries.append(Entry(canonical(_strip(path.name, _UV_POINTER_SUFFIXES)), None, (path,)))
    return entries


def _uv_index_dirs(root: Path, bucket: str) -> Iterator[Path]:
    """PyPI's directory and each other index's, in one of uv's buckets (URL wheels have no name)."""
    for bucket_dir in sorted(root.glob(bucket)):
        yield from (p for p in [bucket_dir / "pypi"] if p.is_dir())
        yield from (p for p in sorted(bucket_dir.glob("index/*")) if p.is_dir())


def _uv_project_dirs(root: Path, bucket: str) -> Iterator[Path]:
    for index_dir in _uv_index_dirs(root, bucket):
        yield from (p for p in sorted(index_dir.iterdir()) if p.is_dir() and not p.is_symlink())


def _pip_http(root: Path) -> list[Entry]:
    """pip's HTTP cache: `<hash>` (headers) beside `<hash>.body`; a wheel's body names its release."""
    entries = []
    for body in sorted((root / "http-v2").rglob("*.body")):
        release = _wheel_release(body)
        if release is not None:
            entries.append(Entry(*release, (body, body.with_suffix(""))))
    return entries


def _wheel_release(path: Path) -> tuple[str, str] | None:
    """(project, version) of a wheel from its dist-info directory, None when it is no wheel."""
    try:
        with zipfile.ZipFile(path) as wheel:
            for name in wheel.namelist():
                match = _DIST_INFO.match(name)
                if match:
                    return canonical(match.group(1)), match.group(2).lower()
    except (OSError, zipfile.BadZipFile):
        pass
    return None


def _archives(root: Path) -> list[Entry]:
    """Wheels and sdists named as on the index (`<name>-<version>-<tags>.whl`, `<name>-<version>.tar.gz`)."""
    entries = []
    for path in sorted(root.rglob("*")):
        if not path.name.endswith(_ARCHIVE_SUFFIXES) or not path.is_file():
            continue
        stem = _strip(path.name, _ARCHIVE_SUFFIXES)
        if path.name.endswith(".whl"):  # hyphens in a wheel's name are escaped: the version is second
            name, _, rest = stem.partition("-")
            version = rest.split("-")[0]
        else:  # an sdist: the version is after the last hyphen
            name, _, version = stem.rpartition("-")
        if name and version:
            siblings = [p for p in path.parent.iterdir() if p != path and p.name == "origin.json"]
            entries.append(Entry(canonical(name), version.lower(), (path, *siblings)))
    return entries


def _strip(name: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# --- removing --------------------------------------------------------------------------------------


def remove(root: Path, entries: Sequence[Entry]) -> int:
    """Deletes the entries, with what only they link to inside `root` (uv's unpacked wheels);
    returns the bytes freed. Directories they leave empty go too."""
    doomed = {path for entry in entries for path in entry.paths}
    targets = {target for path in doomed for target in _link_targets(path, root)}
    # An unpacked wheel another entry still links to stays (uv's links live outside archive-v*).
    pointers = [path for path in root.iterdir() if targets and path.is_dir() and not path.name.startswith("archive-")]
    kept_links = {
        target for directory in pointers for link in _links(directory)
        if not any(link == p or p in link.parents for p in doomed) for target in _link_targets(link, root)
    }  # fmt: skip
    freed = 0
    for path in [*doomed, *(targets - kept_links)]:
        freed += _size(path)
        _delete(path)
        _remove_empty_parents(path.parent, root)
    return freed


def _links(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                yield path


def _link_targets(path: Path, root: Path) -> list[Path]:
    """Where a link (or the links inside a directory) point, when that is inside the cache."""
    links = [path] if path.is_symlink() else list(_links(path)) if path.is_dir() else []
    targets = []
    for link in links:
        target = (link.parent / os.readlink(link)).resolve()
        if root.resolve() in target.parents and target.exists():
            targets.append(target)
    return targets


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_blocks * 512 if path.exists() or path.is_symlink() else 0
    total = 0
    for dirpath, _, filenames in os.walk(path):
        total += sum(os.lstat(os.path.join(dirpath, name)).st_blocks * 512 for name in filenames)
    return total


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _remove_empty_parents(directory: Path, root: Path) -> None:
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
