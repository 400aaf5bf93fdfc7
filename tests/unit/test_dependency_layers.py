"""Reuse and discard decisions of the tool, download-cache and venv layers (no installer runs)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from support.deps import PYTHON_HOME, PYTHON_VERSION, STACK, build_env, layer_context

from python_buildpack.caching import packed
from python_buildpack.caching.plan import CachePlan
from python_buildpack.cnb import toml_io
from python_buildpack.cnb.layers import Empty, Restored
from python_buildpack.files.tar_zst import pack_tar_zst
from python_buildpack.layers import caches, tools
from python_buildpack.layers import venv as venv_layer
from python_buildpack.layers.python import Runtime
from python_buildpack.layers.venv import VenvMetadata
from python_buildpack.stacks.identify import Stack
from python_buildpack.tool_versions import TOOL_VERSIONS, Tool

RUNTIME = Runtime(PYTHON_HOME, PYTHON_VERSION, STACK)
PACKED = CachePlan(runs_python=("bin/post_compile runs",))


def refuse(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError(f"nothing should run: {args}")


@contextlib.contextmanager
def log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        yield stream


def restored(layers: Path, name: str, metadata: dict[str, object], files: dict[str, str] | None = None) -> Path:
    """A layer as a lifecycle restores it: `[metadata]` only in the toml, contents from the cache."""
    toml_io.dump({"metadata": metadata}, layers / f"{name}.toml")
    for rel, content in (files or {}).items():
        (layers / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (layers / name / rel).write_text(content)
    return layers / name


def tool_metadata(name: Tool, **changes: str) -> dict[str, object]:
    base = {"version": TOOL_VERSIONS[name], "python_version": PYTHON_VERSION, "stack": STACK.name, "arch": STACK.arch}
    return {**base, **changes}


def packed_tool(layers: Path, name: Tool, metadata: dict[str, object], files: dict[str, str]) -> None:
    """A tool's packed copy as the lifecycle restores it from the cache: one archive."""
    source = layers.parent / f"{name}-source"
    for rel, content in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text(content)
    (layers / f"{name}-packed").mkdir()
    pack_tar_zst(source, layers / f"{name}-packed" / packed.ARCHIVE)
    toml_io.dump({"metadata": metadata}, layers / f"{name}-packed.toml")


def test_a_current_packed_tool_is_unpacked_without_running_anything(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    packed_tool(layers, "uv", tool_metadata("uv"), {"venv/bin/uv": "#!/bin/sh\n"})
    with log() as out:
        assert tools.is_current(layers, "uv", RUNTIME)
        tool = tools.install(layer_context(layers, runner=refuse), build_env(), "uv", RUNTIME, None)
    assert f"Unpacking cached uv {TOOL_VERSIONS['uv']}" in out.getvalue()
    assert tool.executable() == layers / "uv" / "venv" / "bin" / "uv" and tool.executable().read_text() == "#!/bin/sh\n"
    # A build-only layer, not cached: the lifecycle drops it, its packed copy stays (tools.finish).
    assert toml_io.load(layers / "uv.toml")["types"] == {"launch": False, "build": True, "cache": False}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"version": "0.0.1"}, f"the pinned version changed from 0.0.1 to {TOOL_VERSIONS['uv']}"),
        ({"python_version": "3.10.1"}, f"the Python version changed from 3.10.1 to {PYTHON_VERSION}"),
        ({"stack": "scalingo-20"}, f"the stack changed from scalingo-20 to {STACK.name}"),
    ],
)
def test_a_stale_packed_tool_is_discarded_with_its_reason(tmp_path: Path, changes: dict[str, str], reason: str) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    packed_tool(layers, "uv", tool_metadata("uv", **changes), {"venv/bin/uv": ""})
    assert not tools.is_current(layers, "uv", RUNTIME)
    assert packed.stale(tools.LAYERS["uv"], layers, tools.expected("uv", RUNTIME)) == reason
    tools.finish(layers, {"pip", "uv"}, RUNTIME, PACKED)
    assert not (layers / "uv-packed").exists() and not (layers / "uv-packed.toml").exists()


def test_packed_tools_follow_the_plan(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    packed_tool(layers, "uv", tool_metadata("uv"), {"venv/bin/uv": ""})
    packed_tool(layers, "poetry", tool_metadata("poetry"), {"venv/bin/poetry": ""})
    tools.finish(layers, {"pip", "uv"}, RUNTIME, PACKED)  # kept for the next build, the unused one dropped
    assert toml_io.load(layers / "uv-packed.toml")["types"] == {"launch": False, "build": False, "cache": True}
    assert not (layers / "poetry-packed").exists()
    tools.finish(layers, {"pip", "uv"}, RUNTIME, CachePlan())  # no step of a redeploy runs Python
    assert not (layers / "uv-packed").exists() and not (layers / "uv-packed.toml").exists()


def test_unreadable_packed_metadata_is_stale(tmp_path: Path) -> None:
    (tmp_path / "poetry-packed.toml").write_text("[metadata]\nversion = 1\nunexpected = true\n")
    (tmp_path / "poetry-packed").mkdir()
    reason = packed.stale(tools.LAYERS["poetry"], tmp_path, tools.expected("poetry", RUNTIME))
    assert reason == "its metadata is from an incompatible buildpack version"
    assert not tools.is_current(tmp_path, "poetry", RUNTIME)


def test_tool_layers_of_other_managers_are_removed(tmp_path: Path) -> None:
    restored(tmp_path, "poetry", tool_metadata("poetry"), {"venv/bin/poetry": ""})
    restored(tmp_path, "poetry-cache", {"version": "x", "stack": STACK.name, "arch": STACK.arch}, {"a": ""})
    with log() as out:
        tools.remove_unused(tmp_path, {"pip", "uv"})
        caches.remove_unused(tmp_path, {"uv"})
    assert "Removing cached poetry (this build does not use it)" in out.getvalue()
    assert list(tmp_path.iterdir()) == []


def test_download_cache_layer_decisions(tmp_path: Path) -> None:
    other_stack = Stack("scalingo-24", "24.04", STACK.arch, "test")
    setting: dict[str, str] = {}
    with log() as out:
        caches.install(layer_context(tmp_path), setting, "uv", "UV_CACHE_DIR", RUNTIME)
    assert setting == {"UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    assert toml_io.load(tmp_path / "uv-cache.toml")["types"] == {"launch": False, "build": True, "cache": True}
    (tmp_path / "uv-cache" / "wheel").write_text("downloaded")

    with log() as out:
        caches.install(layer_context(tmp_path), {}, "uv", "UV_CACHE_DIR", RUNTIME)
    assert "Using cached uv downloads" in out.getvalue()
    assert (tmp_path / "uv-cache" / "wheel").is_file()

    with log() as out:
        caches.install(layer_context(tmp_path), {}, "uv", "UV_CACHE_DIR", Runtime(PYTHON_HOME, PYTHON_VERSION, other_stack))
    assert f"Discarding cached uv downloads since the stack changed from {STACK.name} to scalingo-24" in out.getvalue()
    assert list((tmp_path / "uv-cache").iterdir()) == []

    setting = {}
    with log() as out:
        caches.install(layer_context(tmp_path, {"UV_CACHE_DIR": "/shared/uv"}), setting, "uv", "UV_CACHE_DIR", RUNTIME)
    assert setting == {}  # the user's value reaches uv with the other settings
    assert "Download cache: /shared/uv (UV_CACHE_DIR from the app's environment)" in out.getvalue()
    assert not (tmp_path / "uv-cache").exists() and not (tmp_path / "uv-cache.toml").exists()


def venv_metadata(**changes: object) -> VenvMetadata:
    base: dict[str, object] = {
        "python_version": PYTHON_VERSION,
        "stack": STACK.name,
        "arch": STACK.arch,
        "package_manager": "pip",
        "package_manager_version": TOOL_VERSIONS["pip"],
        "app_dir": "/workspace",
        "inputs": {"requirements.txt": "abc"},
    }
    return VenvMetadata.model_validate(base | changes)


def opened_venv(layers: Path, metadata: VenvMetadata) -> Empty[VenvMetadata]:
    opened = venv_layer.open_venv(layers, metadata, CachePlan())
    assert isinstance(opened, Empty)
    return opened


def test_venv_rebuild_success_and_failure(tmp_path: Path) -> None:
    ctx = layer_context(tmp_path)
    first = venv_metadata()
    path = tmp_path / "venv"

    def install(venv: Path) -> None:
        (venv / "installed").write_text("1")

    venv_layer.rebuild(ctx, build_env(), opened_venv(tmp_path, first), RUNTIME, install)
    assert (path / "bin" / "python").exists() and (path / "installed").is_file()
    # Never cached as such: its packed copy is (caching/packed.py); the exporter reuses an unchanged venv.
    assert toml_io.load(tmp_path / "venv.toml")["types"] == {"launch": True, "build": False, "cache": False}
    assert (path / "env" / "VIRTUAL_ENV.override").read_text() == str(path)
    assert isinstance(venv_layer.open_venv(tmp_path, first, CachePlan()), Restored)
    toml_before = (tmp_path / "venv.toml").read_bytes()

    def broken(venv: Path) -> None:
        (venv / "half-installed").write_text("")
        raise RuntimeError("installer failed")

    second = venv_metadata(inputs={"requirements.txt": "changed"})
    opened = opened_venv(tmp_path, second)
    assert opened.reason == "requirements.txt changed"
    with pytest.raises(RuntimeError):
        venv_layer.rebuild(ctx, build_env(), opened, RUNTIME, broken)
    # As if the failed build never ran: the previous venv and metadata are back, nothing half-done.
    assert (path / "installed").is_file() and not (path / "half-installed").exists()
    assert (tmp_path / "venv.toml").read_bytes() == toml_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["venv", "venv.toml"]
    assert isinstance(venv_layer.open_venv(tmp_path, first, CachePlan()), Restored)


def test_a_venv_whose_python_is_gone_is_rebuilt(tmp_path: Path) -> None:
    metadata = venv_metadata()
    venv_layer.rebuild(layer_context(tmp_path), build_env(), opened_venv(tmp_path, metadata), RUNTIME, lambda venv: None)
    (tmp_path / "venv" / "bin" / "python").unlink()
    assert opened_venv(tmp_path, metadata).reason == "its files are incomplete"
