"""An OCI registry on 127.0.0.1, for the engines that publish images the way most platforms do.

A platform that drives the lifecycle itself (a CI system, kpack) keeps the previous image in a
registry: the analyzer reads its config over HTTP, and the exporter reuses an unchanged layer by
digest, sending nothing. In the lifecycle's OCI layout mode both phases decompress every layer
of the previous image to learn its diff ID instead, so their time grows with the image's size;
a registry shows what users of such a platform wait for.

The registry is Debian's `docker-registry` (distribution 2.8, `dev/docker start` installs it),
storage in a temporary directory, no auth. The run image we make as an OCI layout
(platform/oci.py) is pushed to it with the distribution API, since no registry can be pulled
from here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ports import free_port

MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")


@dataclass(frozen=True)
class Registry:
    """A running registry: `address` is what image references start with (`localhost:<port>`,
    which the lifecycle and pack reach over plain HTTP)."""

    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address.replace('localhost', '127.0.0.1', 1)}"

    def ref(self, repository: str, tag: str = "latest") -> str:
        return f"{self.address}/{repository}:{tag}"


def available() -> bool:
    return shutil.which("docker-registry") is not None


@contextmanager
def local_registry() -> Iterator[Registry]:
    """Starts Debian's docker-registry on a free loopback port; stops it and drops its storage."""
    program = shutil.which("docker-registry")
    if program is None:
        raise FileNotFoundError("docker-registry (dev/docker start installs it)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="registry-") as tmp:
        config = Path(tmp) / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {tmp}/data\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        log = (Path(tmp) / "registry.log").open("wb")  # a pipe nobody reads would fill and stall it
        proc = subprocess.Popen([program, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                env={"PATH": os.environ["PATH"]})
        registry = Registry(f"localhost:{port}")
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{registry.url}/v2/", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield registry
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


def _request(method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        if method == "HEAD" and error.code == 404:
            return 404, {}, b""
        raise RuntimeError(f"{method} {url}: {error.code} {error.read()[:300]!r}") from error


def push_layout(image_root: Path, registry: Registry, repository: str, tag: str) -> str:
    """Pushes the one image of an OCI layout directory (platform/oci.py's layout) as
    `<repository>:<tag>`; returns its reference. Blobs the registry has are not sent again."""
    index = json.loads((image_root / "index.json").read_text())
    descriptor = index["manifests"][0]
    blobs = image_root / "blobs" / "sha256"
    manifest_bytes = (blobs / descriptor["digest"].split(":", 1)[1]).read_bytes()
    manifest = json.loads(manifest_bytes)
    base = f"{registry.url}/v2/{repository}"
    for blob in (manifest["config"], *manifest["layers"]):
        digest = blob["digest"]
        if _request("HEAD", f"{base}/blobs/{digest}")[0] == 200:
            continue
        _, headers, _ = _request("POST", f"{base}/blobs/uploads/")
        location = headers["Location"]
        if location.startswith("/"):
            location = registry.url + location
        separator = "&" if "?" in location else "?"
        data = (blobs / digest.split(":", 1)[1]).read_bytes()
        _request("PUT", f"{location}{separator}digest={digest}", data,
                 {"Content-Type": "application/octet-stream"})
    _request("PUT", f"{base}/manifests/{tag}", manifest_bytes, {"Content-Type": descriptor["mediaType"]})
    return registry.ref(repository, tag)


def read_image(registry: Registry, repository: str, tag: str = "latest") -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest and config of `<repository>:<tag>`."""
    base = f"{registry.url}/v2/{repository}"
    _, _, body = _request("GET", f"{base}/manifests/{tag}", headers={"Accept": ", ".join(MANIFEST_TYPES)})
    manifest = json.loads(body)
    _, _, config = _request("GET", f"{base}/blobs/{manifest['config']['digest']}")
    return manifest, json.loads(config)
