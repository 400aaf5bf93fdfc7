"""The pinned tools' wheels, fetched from the package index while the runtime is installed.

The `pip` and `uv` layers each start from one wheel, and fetching a wheel needs no Python of
the runtime's: this process reads the index's JSON page (PEP 691), takes the file the pin
names, checks the sha256 the index gives and saves it, in a thread started before the runtime
download. uv's wheel holds a static binary, so a uv layer then needs no pip at all.

Each wheel is unpacked in the same thread (pip's `pip/` package, which the `pip` layer zips;
uv's binary), next to it in a directory of the layers dir, so that the layer takes it with a
rename.

Anything unusual (a pip configuration this process cannot read, an index without the JSON
API, no hash, a network error) makes the fetch give up quietly: the tool is then fetched with
pip after the runtime is installed, as without this module.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..tool_versions import TOOL_VERSIONS, Tool

DEFAULT_INDEX = "https://pypi.org/simple"
_JSON = "application/vnd.pypi.simple.v1+json"
_MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
# pip settings that change where wheels come from or how the index is reached: leave it to pip.
_PIP_ONLY = ("PIP_NO_INDEX", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CLIENT_CERT")


@dataclass(frozen=True)
class Fetched:
    """A fetched wheel, how long fetching (and unpacking) took, and what was unpacked of it."""

    wheel: Path
    seconds: float
    unpacked: Path | None = None  # pip: `<dir>/pip`, its package; uv: its binary


class Prefetch:
    """Wheels being fetched in the background, one thread per tool."""

    def __init__(
        self, names: Iterable[Tool], settings: Mapping[str, str], arch: str, parent: Path | None, unpack: set[Tool]
    ) -> None:
        # No `.toml` beside it: a lifecycle exports and caches nothing of this directory.
        self.directory = Path(tempfile.mkdtemp(prefix=".tool-wheels-", dir=parent))
        atexit.register(shutil.rmtree, self.directory, ignore_errors=True)  # wheels nobody took
        # Registered last, runs first: a fetch nobody took (its venv was reused) must not still be
        # inside httpx/ssl while the interpreter shuts down (a daemon thread there can crash the exit).
        atexit.register(self._wait)
        self._results: dict[str, Fetched | None] = {}
        self._threads = {
            name: threading.Thread(target=self._fetch, args=(name, settings, arch, name in unpack), daemon=True)
            for name in names
        }
        for thread in self._threads.values():
            thread.start()

    def has(self, name: Tool) -> bool:
        return name in self._threads

    def take(self, name: Tool) -> Fetched | None:
        """The fetched wheel, once (None: fetch it with pip)."""
        thread = self._threads.pop(name, None)
        if thread is None:
            return None
        thread.join()
        return self._results.get(name)

    def _wait(self) -> None:
        for thread in self._threads.values():
            thread.join(timeout=60)

    def _fetch(self, name: Tool, settings: Mapping[str, str], arch: str, unpack: bool) -> None:
        start = time.monotonic()
        try:
            wheel = fetch(name, TOOL_VERSIONS[name], self.directory, settings, arch)
        except Exception:  # any failure: pip fetches the tool later, and says why if it fails too
            wheel = None
        unpacked = None
        if wheel is not None and unpack:
            with contextlib.suppress(Exception):  # the layer unpacks it then
                if name == "pip":
                    unpack_pip(wheel, self.directory / "lib")
                    unpacked = self.directory / "lib" / "pip"
                else:
                    unpacked = unpack_uv(wheel, TOOL_VERSIONS[name], self.directory / "bin" / "uv")
        self._results[name] = Fetched(wheel, time.monotonic() - start, unpacked) if wheel is not None else None


def start(
    names: Iterable[Tool],
    settings: Mapping[str, str],
    arch: str,
    parent: Path | None = None,
    unpack: Iterable[Tool] = (),
) -> Prefetch | None:
    """Starts fetching the wheels of `names` into a new directory in `parent` (default: the
    temporary directory), and unpacking those of `unpack` (pip, uv) for their layers; None when
    pip's settings say to leave it to pip."""
    names = list(names)
    if not names or any(settings.get(name) for name in _PIP_ONLY) or _has_pip_config(settings):
        return None
    return Prefetch(names, settings, arch, parent, set(unpack))


def unpack_uv(wheel: Path, version: str, binary: Path) -> Path:
    """uv's static binary out of its wheel, as `binary` (executable); returns it."""
    binary.parent.mkdir(parents=True, exist_ok=True)
    member = f"uv-{version}.data/scripts/uv"
    with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, binary.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    binary.chmod(0o755)
    return binary


def unpack_pip(wheel: Path, lib: Path) -> None:
    """The `pip/` package of pip's wheel in `lib`. Only the package: a pip-*.dist-info on the
    path would make an interpreter that runs this copy see pip as installed."""
    with zipfile.ZipFile(wheel) as archive:  # zipfile drops absolute and `..` paths
        archive.extractall(lib, [name for name in archive.namelist() if name.startswith("pip/")])


def _has_pip_config(settings: Mapping[str, str]) -> bool:
    """Whether pip reads a configuration file (PIP_CONFIG_FILE=/dev/null: none at all)."""
    config = settings.get("PIP_CONFIG_FILE")
    return bool(config) and config != os.devnull


def wheel_pattern(name: Tool, version: str, arch: str) -> re.Pattern[str]:
    if name == "uv":
        machine = _MACHINES.get(arch, arch)
        return re.compile(rf"uv-{re.escape(version)}-py3-none-manylinux_2_(\d+)_{machine}(\.[\w.]+)?\.whl")
    return re.compile(rf"{name}-{re.escape(version)}-py3-none-any\.whl()")


def fetch(name: Tool, version: str, directory: Path, settings: Mapping[str, str], arch: str) -> Path | None:
    """Downloads the pinned wheel of `name` from the index into `directory`, checked by sha256."""
    import ssl  # imported here, as httpx: a warm rebuild never fetches anything

    import httpx

    index = settings.get("PIP_INDEX_URL", DEFAULT_INDEX).rstrip("/")
    pattern = wheel_pattern(name, version, arch)
    # The CA settings pip would use (PIP_CERT) or the platform's; otherwise httpx's own roots.
    cafile, capath = settings.get("PIP_CERT") or settings.get("SSL_CERT_FILE"), settings.get("SSL_CERT_DIR")
    verify: ssl.SSLContext | bool = True
    if cafile or capath:
        verify = ssl.create_default_context(cafile=cafile, capath=capath)
    timeout = httpx.Timeout(15.0, connect=5.0)
    with httpx.Client(timeout=timeout, verify=verify, follow_redirects=True, trust_env=True) as client:
        page = client.get(f"{index}/{name}/", headers={"Accept": _JSON})
        if page.status_code != 200 or not page.headers.get("content-type", "").startswith(_JSON):
            return None
        candidates = []
        for file in page.json().get("files", []):
            match = pattern.fullmatch(file.get("filename", ""))
            if match and file.get("hashes", {}).get("sha256") and not file.get("yanked"):
                candidates.append((int(match.group(1) or 0), file))
        if not candidates:
            return None
        _, file = min(candidates, key=lambda item: item[0])  # the oldest glibc the wheel needs
        url = httpx.URL(page.url).join(file["url"])
        target: Path = directory / str(file["filename"])  # matched the pattern: a plain file name
        digest = hashlib.sha256()
        with client.stream("GET", url) as response, target.open("wb") as out:
            if response.status_code != 200:
                return None
            for chunk in response.iter_bytes(1 << 16):
                digest.update(chunk)
                out.write(chunk)
    if digest.hexdigest() != file["hashes"]["sha256"].lower():
        target.unlink()
        return None
    return target
