"""The record a build leaves for the next one: its inputs, the files it wrote, its log.

It is `record.json` in the cache layer `build-record`. What it holds, per layer of the
buildpack's layers dir:

- `toml`: the `<layer>.toml` the build wrote (types and metadata), written again as it is;
- `metadata`: that metadata, parsed, to compare with what the lifecycle restores (the
  lifecycle writes its own TOML, without the types);
- `files`: for a launch layer the build made from a few small files (the gunicorn settings, the
  WEB_CONCURRENCY program), those files, made again as the full build makes them at every
  build; a launch layer with metadata whose files are big (the runtime, the venv) gets none:
  the exporter reuses the previous image's, as after a full build that reused it;
- `listing`: for a cached layer, the names and sizes of its files, which the restorer must
  bring back.

Plus the files at the top of the layers dir (launch.toml, the SBOMs) and the log lines a build
with these inputs prints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the build images' older interpreters
    import tomli as tomllib

LAYER = "build-record"
FILE = "record.json"
FORMAT = 1
TOML = '[types]\nlaunch = false\nbuild = false\ncache = true\n\n[metadata]\nformat = 1\n'
# A launch layer made at every build is recorded whole up to this size.
MAX_LAYER_FILES = 64
MAX_LAYER_BYTES = 256 * 1024


class NotRecordable(Exception):
    """This build's layers cannot be made again from a record (the message says why)."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def listing(path: Path) -> str:
    """A digest of the names, types and sizes of the files under `path` (not their content:
    the restorer brings a cached layer back whole or not at all)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames) + dirnames:
            info = os.lstat(os.path.join(dirpath, name))
            relative = os.path.relpath(os.path.join(dirpath, name), path)
            digest.update(f"{relative}\0{stat.S_IFMT(info.st_mode):o}\0{info.st_size}\0".encode())
    return digest.hexdigest()


def _snapshot(path: Path) -> list[dict[str, Any]] | None:
    """The entries of a small layer directory, to be made again; None when it is not small."""
    entries: list[dict[str, Any]] = [{"path": ".", "mode": stat.S_IMODE(path.stat().st_mode)}]
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = Path(dirpath, name)
            info = full.lstat()
            entry: dict[str, Any] = {"path": str(full.relative_to(path)), "mode": stat.S_IMODE(info.st_mode)}
            if stat.S_ISLNK(info.st_mode):
                entry["link"] = os.readlink(full)
            elif stat.S_ISREG(info.st_mode):
                data = full.read_bytes()
                total += len(data)
                entry["data"] = base64.b64encode(data).decode()
            elif not stat.S_ISDIR(info.st_mode):
                return None
            entries.append(entry)
            if len(entries) > MAX_LAYER_FILES or total > MAX_LAYER_BYTES:
                return None
    return entries


def take(layers_dir: Path, inputs: Mapping[str, str], log: list[list[str]]) -> dict[str, Any]:
    """The record of the layers dir as this build leaves it; NotRecordable says why not."""
    layers: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for entry in sorted(layers_dir.iterdir()):
        name = entry.name
        if entry.is_dir() or name.startswith(LAYER):
            continue
        if name.endswith(".toml") and name != "launch.toml":
            layer = name[: -len(".toml")]
            text = entry.read_text(encoding="utf-8")
            data = tomllib.loads(text)
            types = data.get("types", {})
            launch, build, cache = (bool(types.get(key)) for key in ("launch", "build", "cache"))
            if build and not cache:
                raise NotRecordable(f"the layer {layer} is made for a later buildpack at every build")
            record: dict[str, Any] = {"toml": text, "metadata": data.get("metadata", {}),
                                      "launch": launch, "cache": cache}
            directory = layers_dir / layer
            if cache:
                if not directory.is_dir():
                    raise NotRecordable(f"the cached layer {layer} has no directory")
                record["listing"] = listing(directory)
            elif launch and directory.is_dir():
                snapshot = _snapshot(directory)
                if snapshot is not None:
                    record["files"] = snapshot
                elif not record["metadata"]:
                    raise NotRecordable(f"the layer {layer} is made at every build")
            layers[layer] = record
        elif entry.is_file() and not entry.is_symlink():
            files[name] = {"data": base64.b64encode(entry.read_bytes()).decode()}
            if not _sbom_of(name):  # a restored SBOM's mode is the restorer's (0644 or 0666)
                files[name]["mode"] = stat.S_IMODE(entry.stat().st_mode)
        else:
            raise NotRecordable(f"{name} in the layers dir is not a layer")
    return {"format": FORMAT, "inputs": dict(inputs), "layers": layers, "files": files, "log": log}


def save(layers_dir: Path, record: dict[str, Any]) -> None:
    directory = layers_dir / LAYER
    directory.mkdir(exist_ok=True)
    tmp = directory / f".{FILE}.tmp"
    tmp.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
    tmp.replace(directory / FILE)
    (layers_dir / f"{LAYER}.toml").write_text(TOML, encoding="utf-8")


def forget(layers_dir: Path) -> None:
    (layers_dir / f"{LAYER}.toml").unlink(missing_ok=True)
    directory = layers_dir / LAYER
    if directory.is_dir():
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def load(layers_dir: Path) -> dict[str, Any] | None:
    """The previous build's record, when the restorer brought it back in this format."""
    try:
        record = json.loads((layers_dir / LAYER / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def restored_difference(layers_dir: Path, record: Mapping[str, Any]) -> str:
    """How the restored layers differ from the ones the recorded build left ('' when they do not):
    the same layers, each with the same metadata, the cached ones with the same files."""
    layers: Mapping[str, Any] = record["layers"]
    expected = {name for name, layer in layers.items() if layer["launch"] or layer["cache"]}
    found: set[str] = set()
    for entry in layers_dir.iterdir():
        name = entry.name
        if name.startswith(LAYER):
            continue
        if name.endswith(".toml") and entry.is_file():
            found.add(name[: -len(".toml")])
        elif entry.is_dir() and name in layers and layers[name]["cache"]:
            continue
        elif not (entry.is_file() and _sbom_of(name) in layers):  # the previous image's SBOMs come back
            return f"{name} is in the layers dir"
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        return (f"the layer {missing[0]} was not restored (a lost cache or image)" if missing
                else f"the layer {extra[0]} was restored, which the last build did not leave")
    for name in sorted(expected):
        layer = layers[name]
        try:
            restored = tomllib.loads((layers_dir / f"{name}.toml").read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError):
            return f"the metadata of the layer {name} cannot be read"
        if _canonical(restored) != _canonical(layer["metadata"]):
            return f"the layer {name} is not the one the last build left"
        if layer["cache"]:
            directory = layers_dir / name
            if not directory.is_dir() or listing(directory) != layer["listing"]:
                return f"the files of the cached layer {name} did not come back"
    return ""


def _sbom_of(name: str) -> str:
    """The layer whose SBOM a file of the layers dir is (`<layer>.sbom.<format>.json`), or ''."""
    layer, dot, _ = name.partition(".sbom.")
    return layer if dot else ""


def apply(layers_dir: Path, record: Mapping[str, Any]) -> None:
    """Writes what the recorded build wrote: every layer's toml, the small launch layers, launch.toml
    and the SBOMs the restorer did not bring back (the full build writes those only then); the
    record's own layer is kept."""
    for name, layer in record["layers"].items():
        snapshot = layer.get("files")
        if snapshot:
            _make(layers_dir / name, snapshot)
        (layers_dir / f"{name}.toml").write_text(layer["toml"], encoding="utf-8")
    for name, file in record["files"].items():
        path = layers_dir / name
        if _sbom_of(name) and path.is_file():
            continue
        path.write_bytes(base64.b64decode(file["data"]))
        path.chmod(file.get("mode", 0o644))
    (layers_dir / f"{LAYER}.toml").write_text(TOML, encoding="utf-8")


def undo(layers_dir: Path, record: Mapping[str, Any]) -> None:
    """Removes the small launch layers `apply` made, read-only directories included, so that the
    full build that runs after a failed replay starts from the restored layers."""
    import shutil  # here: 2 ms of imports that only a failed replay needs

    for name, layer in record["layers"].items():
        directory = layers_dir / name
        if layer.get("files") and directory.is_dir() and not directory.is_symlink():
            for path in [directory, *directory.rglob("*")]:
                if path.is_dir() and not path.is_symlink():
                    path.chmod(0o755)
            shutil.rmtree(directory)


def _make(directory: Path, entries: list[dict[str, Any]]) -> None:
    directory.mkdir()
    modes: list[tuple[Path, int]] = []
    for entry in entries:
        path = directory / entry["path"]
        if entry["path"] == ".":
            modes.append((directory, entry["mode"]))
        elif "link" in entry:
            path.symlink_to(entry["link"])
        elif "data" in entry:
            path.write_bytes(base64.b64decode(entry["data"]))
            path.chmod(entry["mode"])
        else:
            path.mkdir()
            modes.append((path, entry["mode"]))
    for path, mode in reversed(modes):  # read-only directories last, deepest first
        path.chmod(mode)
