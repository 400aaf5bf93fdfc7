"""What a build reads, as digests: two builds with the same digests make the same layers.

A build's decisions depend on the app's files, the process environment and the platform's
files (settings, the build plan), the stack (`/etc/os-release` and the CNB target variables,
which are in the environment), the buildpack's own files, a runtime catalogue named by a path
outside the app, and the day (end-of-life notices). Each is one entry of `Inputs.digests`,
named so that a difference can be said in a log line ("requirements.txt changed").

Values are digested, never kept: the record that holds them sits in the build cache, and a
setting may be a secret.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from ..app.digests import file_digest

# Per-build values: a temporary path (the plan's content is an input of its own) and the name
# a container runtime gives each build container.
VOLATILE_ENV = frozenset({"CNB_BP_PLAN_PATH", "HOSTNAME"})
CATALOG_SETTING = "BP_PYTHON_RUNTIME_CATALOG"
OS_RELEASE = Path("/etc/os-release")
# Larger apps are built in full: digesting them would cost what the build saves.
MAX_APP_FILES = 5000
MAX_APP_BYTES = 256 * 1024 * 1024
# The buildpack's own files that decide what it does (not the vendored wheels' files: their
# lock is vendor/manifest.json; not byte-code).
BUILDPACK_PARTS = ("buildpack.toml", "bin", "lib", "layers_templates", "src/python_buildpack", "vendor/manifest.json")


class Inputs(NamedTuple):
    digests: dict[str, str]
    problem: str = ""  # why this build's inputs are not digested (then nothing is recorded)


def _entry(path: Path, root: Path) -> tuple[str, int]:
    """One file's digest (type, executable bit, content or link target) and its bytes."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        resolved = path.resolve()
        if resolved.is_dir() and not resolved.is_relative_to(root.resolve()):
            raise ValueError(f"{path.relative_to(root)} links to a directory outside the app")
        content = file_digest(resolved) if resolved.is_file() else "-"
        return f"link:{target}:{content}", 0
    if stat.S_ISREG(info.st_mode):
        return f"file:{info.st_mode & 0o111:o}:{file_digest(path)}", info.st_size
    return f"type:{stat.S_IFMT(info.st_mode):o}", 0


def tree_digests(root: Path) -> dict[str, str]:
    """`relative path -> digest` for every entry under `root` (symlinked directories not entered);
    ValueError when there are more than MAX_APP_FILES files or MAX_APP_BYTES bytes."""
    max_files, max_bytes = MAX_APP_FILES, MAX_APP_BYTES
    digests: dict[str, str] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
            path = base / name
            digests[str(path.relative_to(root))], size = _entry(path, root)
            total += size
            if len(digests) > max_files or total > max_bytes:
                raise ValueError(f"the app has more than {max_files} files or {max_bytes >> 20} MB")
        if not filenames and not dirnames and base != root:
            digests[str(base.relative_to(root)) + "/"] = "dir"
    return digests


def buildpack_digest(buildpack_dir: Path) -> str:
    digest = hashlib.sha256()
    for part in BUILDPACK_PARTS:
        path = buildpack_dir / part
        if path.is_file():
            digest.update(f"{part}\0{file_digest(path)}\0".encode())
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for name in sorted(filenames):
                    file = Path(dirpath, name)
                    digest.update(f"{file.relative_to(buildpack_dir)}\0{file_digest(file)}\0".encode())
    return digest.hexdigest()


def _text_digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def gather(app_dir: Path, buildpack_dir: Path, platform_dir: Path | None, plan_path: Path,
           environ: Mapping[str, str], today: datetime.date) -> Inputs:
    """The digests of everything this build reads."""
    digests = {"buildpack": buildpack_digest(buildpack_dir), "date": today.isoformat(),
               "interpreter": sys.version}
    try:
        digests |= {f"app:{name}": value for name, value in tree_digests(app_dir).items()}
        if platform_dir is not None and platform_dir.is_dir():
            digests |= {f"platform:{name}": value for name, value in tree_digests(platform_dir).items()}
    except (OSError, ValueError) as error:
        return Inputs({}, str(error))
    digests |= {f"env:{name}": _text_digest(value) for name, value in environ.items() if name not in VOLATILE_ENV}
    for name, path in (("plan", plan_path), ("os-release", OS_RELEASE)):
        try:
            digests[name] = file_digest(path)
        except OSError:
            digests[name] = "-"
    catalog = _catalog_path(app_dir, platform_dir, environ)
    if catalog is not None:
        try:
            digests["catalog"] = file_digest(catalog)
        except OSError:
            return Inputs({}, f"the runtime catalogue {catalog} cannot be read")
    return Inputs(digests)


def _catalog_path(app_dir: Path, platform_dir: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The runtime catalogue the build reads when it is not the buildpack's own (a setting of the
    platform wins over the environment, as in the build's settings)."""
    value = environ.get(CATALOG_SETTING, "")
    if platform_dir is not None:
        with contextlib.suppress(OSError):
            value = (platform_dir / "env" / CATALOG_SETTING).read_text(encoding="utf-8", errors="replace")
    value = value.strip()
    return (app_dir / value) if value else None


def differences(old: Mapping[str, str], new: Mapping[str, str], limit: int = 3) -> str:
    """What changed between two builds' inputs, in words: the first few names, then a count."""
    names = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    words = [_describe(name, old.get(name), new.get(name)) for name in names[:limit]]
    if len(names) > limit:
        words.append(f"{len(names) - limit} more")
    return ", ".join(words)


def _describe(name: str, old: str | None, new: str | None) -> str:
    kind, _, rest = name.partition(":")
    change = "was added" if old is None else "was removed" if new is None else "changed"
    if kind == "app":
        return f"{rest} {change}"
    if kind == "env":
        return f"the variable {rest} {change}"
    if kind == "platform":
        return f"the platform's {rest} {change}"
    return {
        "buildpack": "the buildpack changed",
        "date": "the date changed (end-of-life notices are checked again)",
        "interpreter": "the build image's python3 changed",
        "plan": "the build plan changed",
        "os-release": "the build image's /etc/os-release changed",
        "catalog": "the runtime catalogue changed",
    }.get(name, f"{name} {change}")
