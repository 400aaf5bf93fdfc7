"""Layer definitions opened as Restored or Empty(cause), filled or removed, and the files a layer writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.layers import Changed, Empty, Layer, LayerDefinition, LayerMetadata, New, Restored, Unreadable
from python_buildpack.cnb.models import LayerToml, LayerTypes


class Meta(LayerMetadata):
    stack: str = Field(title="the stack")
    version: str = Field(title="the Python version")
    lock_hash: str = Field(title="requirements.txt", json_schema_extra={"opaque": True})


EXPECTED = Meta(stack="scalingo-22", version="3.12.12", lock_hash="abc")


def restore(layer: Layer, metadata: dict[str, object], contents: bool = True) -> None:
    """What the lifecycle restores: metadata only (no [types]), contents for cached layers."""
    layer.layers_dir.mkdir(parents=True, exist_ok=True)
    toml_io.dump({"metadata": metadata}, layer.toml_path)
    if contents:
        layer.path.mkdir()
        (layer.path / "file").write_text("cached")


TYPES = LayerTypes(build=True, cache=True)
VENV = LayerDefinition("venv", TYPES, Meta)


def test_no_previous_layer(tmp_path: Path) -> None:
    opened = VENV.open(tmp_path, EXPECTED)
    assert isinstance(opened, Empty) and opened.cause == New() and opened.reason == "" and opened.previous is None
    assert not (tmp_path / "venv.toml").exists()  # opening an empty layer changes nothing


def test_identical_metadata_is_restored_with_its_types_written(tmp_path: Path) -> None:
    layer = Layer(tmp_path, "venv")
    restore(layer, EXPECTED.model_dump())
    assert VENV.is_current(tmp_path, EXPECTED)
    opened = VENV.open(tmp_path, EXPECTED)
    assert isinstance(opened, Restored) and opened.metadata == EXPECTED
    assert LayerToml.model_validate(toml_io.load(layer.toml_path)).types == TYPES  # a restore loses [types]


def test_changes_are_explained(tmp_path: Path) -> None:
    layer = Layer(tmp_path, "venv")
    restore(layer, {"stack": "scalingo-20", "version": "3.12.12", "lock_hash": "old"})
    opened = VENV.open(tmp_path, EXPECTED)
    assert isinstance(opened, Empty) and isinstance(opened.cause, Changed)
    assert opened.reason == "the stack changed from scalingo-20 to scalingo-22, requirements.txt changed"
    assert opened.previous == Meta(stack="scalingo-20", version="3.12.12", lock_hash="old")
    assert not VENV.is_current(tmp_path, EXPECTED)


@pytest.mark.parametrize(
    "content", ['metadata = "not a table"', "[metadata\nbroken", "[metadata]\nstack = 1\n", "\x00\x01"]
)
def test_unparseable_metadata_discards_never_crashes(tmp_path: Path, content: str) -> None:
    (tmp_path / "venv.toml").write_text(content)
    opened = VENV.open(tmp_path, EXPECTED)
    assert isinstance(opened, Empty) and isinstance(opened.cause, Unreadable)
    assert "metadata" in opened.reason


def test_the_content_check_gives_the_reason(tmp_path: Path) -> None:
    layer = Layer(tmp_path, "venv")
    restore(layer, EXPECTED.model_dump(), contents=False)
    opened = VENV.open(tmp_path, EXPECTED)
    assert isinstance(opened, Empty) and opened.reason == "its files were not restored"
    checked = LayerDefinition("venv", TYPES, Meta, lambda path: None if (path / "bin").is_dir() else "no bin/")
    layer.path.mkdir()
    opened = checked.open(tmp_path, EXPECTED)
    assert isinstance(opened, Empty) and opened.cause == Changed(EXPECTED, ("no bin/",))


def test_fill_records_the_layer_or_removes_it(tmp_path: Path) -> None:
    layer = Layer(tmp_path, "venv")
    restore(layer, {"stack": "scalingo-20", "version": "3.12.12", "lock_hash": "old"})
    opened = VENV.open(tmp_path, EXPECTED)
    assert isinstance(opened, Empty)
    with pytest.raises(RuntimeError), opened.fill() as filling:
        assert not any(filling.path.iterdir())  # the previous files are gone
        (filling.path / "half").write_text("")
        raise RuntimeError("failed")
    assert not layer.path.exists() and not layer.toml_path.exists()
    with opened.fill() as filling:
        (filling.path / "whole").write_text("")
        filling.metadata = EXPECTED.model_copy(update={"lock_hash": "learnt"})
    written = LayerToml.model_validate(toml_io.load(layer.toml_path))
    assert written.types == TYPES and written.metadata["lock_hash"] == "learnt"
    assert (layer.path / "whole").is_file()


def test_write_reset_delete(tmp_path: Path) -> None:
    layer = Layer(tmp_path, "venv")
    restore(layer, EXPECTED.model_dump())
    (tmp_path / "venv.sbom.cdx.json").write_text("{}")
    path = layer.reset()
    assert path.is_dir() and not any(path.iterdir())
    assert not layer.toml_path.exists() and not (tmp_path / "venv.sbom.cdx.json").exists()
    layer.write(LayerTypes(launch=True, cache=True), EXPECTED)
    written = LayerToml.model_validate(toml_io.load(layer.toml_path))
    assert written.types == LayerTypes(launch=True, build=False, cache=True)
    assert Meta.model_validate(written.metadata) == EXPECTED
    layer.delete()
    assert not layer.path.exists() and not layer.toml_path.exists()


@pytest.mark.parametrize("name", ["has.dot", "build", "launch", "store"])
def test_invalid_layer_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        Layer(tmp_path, name)


class OptionalMeta(LayerMetadata):
    pin: str | None = Field(default=None, title="the pin")


def test_none_values_round_trip_through_toml(tmp_path: Path) -> None:
    """TOML has no null: an unset optional field is left out and reads back as None."""
    layer = Layer(tmp_path, "python")
    layer.write(LayerTypes(cache=True), OptionalMeta())
    restored = LayerToml.model_validate(toml_io.load(layer.toml_path))
    assert restored.metadata == {}
    toml_io.dump({"metadata": restored.metadata}, layer.toml_path)  # what a restore leaves
    layer.path.mkdir(exist_ok=True)
    python = LayerDefinition("python", LayerTypes(cache=True), OptionalMeta)
    assert isinstance(python.open(tmp_path, OptionalMeta()), Restored)
    changed = python.open(tmp_path, OptionalMeta(pin="abc"))
    assert isinstance(changed, Empty) and changed.reason == "the pin changed from None to abc"
