"""A loopback NLTK data server: an index.xml in the downloader's format and one zip per package.

Packages are made on the fly (a directory named after the package holding one text file), with
their md5 and sha256 in the index, as the downloader checks them.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr


@dataclass
class NltkServer:
    root: Path
    url: str  # the base URL; the index is at {url}/index.xml
    requests: list[str] = field(default_factory=list)

    @property
    def index_url(self) -> str:
        return f"{self.url}/index.xml"


def package_zip(package_id: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{package_id}/", "")
        archive.writestr(f"{package_id}/README", f"the {package_id} test corpus\n")
    return buffer.getvalue()


def write_data(root: Path, base_url: str, packages: dict[str, str]) -> None:
    """`packages`: id → subdir (corpora, tokenizers, ...)."""
    entries = []
    for package_id, subdir in sorted(packages.items()):
        data = package_zip(package_id)
        path = root / "packages" / subdir / f"{package_id}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        attributes = {
            "id": package_id,
            "name": f"Test corpus {package_id}",
            "subdir": subdir,
            "url": f"{base_url}/packages/{subdir}/{package_id}.zip",
            "size": str(len(data)),
            "unzipped_size": str(len(package_id) + 20),
            "checksum": hashlib.md5(data).hexdigest(),  # the index format has an md5 field
            "sha256_checksum": hashlib.sha256(data).hexdigest(),
            "unzip": "1",
        }
        entries.append("    <package " + " ".join(f"{k}={quoteattr(v)}" for k, v in attributes.items()) + " />")
    index = (
        '<?xml version="1.0"?>\n<nltk_data>\n  <packages>\n'
        + "\n".join(entries)
        + "\n  </packages>\n  <collections>\n  </collections>\n</nltk_data>\n"
    )
    (root / "index.xml").write_text(index)


@contextmanager
def serve_nltk_data(root: Path, packages: dict[str, str]) -> Iterator[NltkServer]:
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    write_data(root, url, packages)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield NltkServer(root, url, requests)
    finally:
        server.shutdown()
        server.server_close()
