"""Layer keep/discard decisions and the files a layer writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.layers import Layer, LayerMetadata
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


def test_no_previous_layer(tmp_path: Path) -> None:
    decision = Layer(tmp_path, "venv").decide(EXPECTED)
    assert not decision.keep and not decision.had_previous and decision.reasons == []


def test_identical_metadata_is_kept(tmp_path: Path) -> None:
    layer = Layer(tmp_path, "venv")
    restore(layer, EXPECTED.model_dump())
    decision = layer.decide(EXPECTED)
    assert decision.keep and decision.previous == EXPECTED


def test_changes_are_explained(tmp_path: Path) -> None:
    layer = Layer(tmp_path, "venv")
    restore(layer, {"stack": "scalingo-20", "version": "3.12.12", "lock_hash": "old"})
    decision = layer.decide(EXPECTED)
    assert not decision.keep
    assert decision.reasons == ["the stack changed from scalingo-20 to scalingo-22", "requirements.txt changed"]


@pytest.mark.parametrize(
    "content", ['metadata = "not a table"', "[metadata\nbroken", "[metadata]\nstack = 1\n", "\x00\x01"]
)
def test_unparseable_metadata_discards_never_crashes(tmp_path: Path, content: str) -> None:
    layer = Layer(tmp_path, "venv")
    layer.toml_path.write_text(content)
    decision = layer.decide(EXPECTED)
    assert not decision.keep and decision.had_previous
    assert decision.reasons and ("metadata" in decision.reasons[0])


def test_metadata_without_contents_is_discarded(tmp_path: Path) -> None:
    layer = Layer(tmp_path, "venv")
    restore(layer, EXPECTED.model_dump(), contents=False)
    decision = layer.decide(EXPECTED)
    assert not decision.keep and decision.reasons == ["its files were not restored"]
    assert layer.decide(EXPECTED, needs_content=False).keep


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
    assert layer.decide(OptionalMeta()).keep
    assert layer.decide(OptionalMeta(pin="abc")).reasons == ["the pin changed from None to abc"]
