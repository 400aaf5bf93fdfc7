"""The tools' wheels fetched from a package index's JSON pages while the runtime is installed,
against a loopback index: the pinned file, checked by sha256, and a quiet give-up otherwise.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from python_buildpack.layers import tool_wheels

JSON = "application/vnd.pypi.simple.v1+json"


def wheel_bytes(member: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, content)
    return buffer.getvalue()


class Index:
    """Pages and files served over loopback; `pages[project]` is (content type, body)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.files: dict[str, bytes] = {}

    def add(self, project: str, files: dict[str, bytes], *, sha256: dict[str, str] | None = None) -> None:
        entries = [
            {"filename": name, "url": f"../../files/{name}",
             "hashes": {"sha256": (sha256 or {}).get(name, hashlib.sha256(data).hexdigest())}}
            for name, data in files.items()
        ]  # fmt: skip
        self.pages[project] = (JSON, json.dumps({"files": entries}).encode())
        self.files.update(files)


@pytest.fixture
def index() -> Iterator[tuple[Index, str]]:
    state = Index()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if parts[0] == "simple" and parts[1] in state.pages:
                content_type, body = state.pages[parts[1]]
            elif parts[0] == "files" and parts[1] in state.files:
                content_type, body = "application/octet-stream", state.files[parts[1]]
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_pinned_wheel_checked_by_sha256(index: tuple[Index, str], tmp_path: Path) -> None:
    state, url = index
    good = wheel_bytes("pip/__main__.py", b"")
    state.add("pip", {"pip-26.3-py3-none-any.whl": good, "pip-26.2-py3-none-any.whl": b"older"})
    wheel = tool_wheels.fetch("pip", "26.3", tmp_path, {"PIP_INDEX_URL": url}, "amd64")
    assert wheel == tmp_path / "pip-26.3-py3-none-any.whl"
    assert wheel.read_bytes() == good


def test_uv_takes_the_manylinux_wheel_of_the_architecture(index: tuple[Index, str], tmp_path: Path) -> None:
    state, url = index
    state.add(
        "uv",
        {
            "uv-0.13.9-py3-none-manylinux_2_28_aarch64.whl": b"arm new",
            "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl": b"arm",
            "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": b"x86",
            "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl": b"musl",
        },
    )
    settings = {"PIP_INDEX_URL": url}
    assert (wheel := tool_wheels.fetch("uv", "0.13.9", tmp_path, settings, "amd64")) and wheel.read_bytes() == b"x86"
    assert (wheel := tool_wheels.fetch("uv", "0.13.9", tmp_path, settings, "arm64")) and wheel.read_bytes() == b"arm"


def test_gives_up_quietly(index: tuple[Index, str], tmp_path: Path) -> None:
    state, url = index
    settings = {"PIP_INDEX_URL": url}
    state.add("pip", {"pip-26.3-py3-none-any.whl": b"tampered"}, sha256={"pip-26.3-py3-none-any.whl": "0" * 64})
    assert tool_wheels.fetch("pip", "26.3", tmp_path, settings, "amd64") is None
    assert not list(tmp_path.iterdir())  # the bad download is not kept
    state.pages["pip"] = ("text/html", b"<html></html>")  # an index without the JSON API
    assert tool_wheels.fetch("pip", "26.3", tmp_path, settings, "amd64") is None
    assert tool_wheels.fetch("uv", "0.13.9", tmp_path, settings, "amd64") is None  # not on the index

    # Through the background fetch: a failure is just no wheel; pip-only settings start nothing.
    prefetch = tool_wheels.start(["pip"], {"PIP_INDEX_URL": "http://127.0.0.1:9/simple"}, "amd64")
    assert prefetch is not None and prefetch.has("pip") and prefetch.take("pip") is None
    assert tool_wheels.start(["pip"], {"PIP_NO_INDEX": "1"}, "amd64") is None
    assert tool_wheels.start(["pip"], {"PIP_CONFIG_FILE": "/etc/pip-private.conf"}, "amd64") is None
    no_config = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}
    assert tool_wheels.start(["pip"], no_config, "amd64") is not None  # no configuration at all: fine


def test_pips_wheel_is_unpacked_in_the_background_beside_it(index: tuple[Index, str], tmp_path: Path) -> None:
    """In a directory of the parent given (the layers dir: the pip layer takes it by a rename),
    the package only, no dist-info."""
    state, url = index
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pip/__main__.py", b"print('pip')\n")
        archive.writestr("pip/_internal/__init__.py", b"")
        archive.writestr("pip-26.3.dist-info/METADATA", b"Name: pip\nVersion: 26.3\n")
    state.add("pip", {"pip-26.3-py3-none-any.whl": buffer.getvalue()})
    prefetch = tool_wheels.start(["pip"], {"PIP_INDEX_URL": url}, "amd64", tmp_path, unpack=["pip"])
    assert prefetch is not None
    fetched = prefetch.take("pip")
    assert fetched is not None and fetched.wheel.parent.parent == tmp_path
    assert fetched.wheel.parent.name.startswith(".")  # no <layer>.toml beside it: never exported
    assert fetched.unpacked == fetched.wheel.parent / "lib" / "pip"
    unpacked = sorted(p.relative_to(fetched.unpacked.parent).as_posix() for p in fetched.unpacked.rglob("*.py"))
    assert unpacked == ["pip/__main__.py", "pip/_internal/__init__.py"]
    assert [p.name for p in fetched.unpacked.parent.iterdir()] == ["pip"]


def test_uvs_binary_is_unpacked_in_the_background(index: tuple[Index, str], tmp_path: Path) -> None:
    state, url = index
    name = "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    state.add("uv", {name: wheel_bytes("uv-0.13.9.data/scripts/uv", b"\x7fELF uv")})
    state.add("pip", {"pip-26.3-py3-none-any.whl": wheel_bytes("pip/__main__.py", b"")})
    prefetch = tool_wheels.start(["uv", "pip"], {"PIP_INDEX_URL": url}, "amd64", tmp_path, unpack=["uv"])
    assert prefetch is not None
    fetched = prefetch.take("uv")
    assert fetched is not None and fetched.unpacked is not None
    assert fetched.unpacked.read_bytes() == b"\x7fELF uv" and os.access(fetched.unpacked, os.X_OK)
    assert fetched.unpacked.parent.parent == fetched.wheel.parent
    pip = prefetch.take("pip")  # fetched for a venv's pip, not unpacked: no pip layer is made of it
    assert pip is not None and pip.unpacked is None and pip.wheel.is_file()
