"""What a build keeps for the next one: the plan chosen from the app's files, packed copies of
layers, and launch layers whose files come on demand and go again before the export."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from python_buildpack.caching import packed
from python_buildpack.caching import plan as cache_plan
from python_buildpack.caching.on_demand import OnDemand
from python_buildpack.caching.plan import CachePlan
from python_buildpack.cnb import toml_io
from python_buildpack.cnb.layers import LayerDefinition, LayerMetadata, Restored
from python_buildpack.cnb.models import LayerTypes
from python_buildpack.files.tar_zst import pack_tar_zst


def app(tmp_path: Path, *files: str) -> Path:
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "settings", "nltk", "later", "steps"),
    [
        ((), {}, False, False, ()),
        (("bin/post_compile",), {}, False, False, ("bin/post_compile runs",)),
        (("manage.py",), {}, False, False, ("collectstatic runs",)),
        (("manage.py", "Procfile"), {"DISABLE_COLLECTSTATIC": "1"}, False, False, ()),
        (("manage.py",), {"DISABLE_COLLECTSTATIC": "yes"}, False, False,
         ("the default process depends on the installed gunicorn",)),
        (("manage.py",), {"DISABLE_COLLECTSTATIC": "false"}, False, False, ("collectstatic runs",)),
        ((), {}, True, False, ("nltk.txt is read",)),
        ((), {}, False, True, ("a later buildpack requires python",)),
    ],
)
def test_the_plan_follows_the_steps_that_run_python(tmp_path: Path, files: tuple[str, ...], settings: dict[str, str],
                                                    nltk: bool, later: bool, steps: tuple[str, ...]) -> None:
    plan = cache_plan.decide(app(tmp_path, *files), settings, nltk, later)
    assert plan.runs_python == steps
    assert plan.packed_runtime == bool(steps)
    assert plan.launch_types == LayerTypes(launch=True, build=later)
    if steps:
        assert plan.describe("pip").endswith(f"{', '.join(steps)} at every build")
    else:
        assert plan.describe("pip").endswith("the dependencies and pip only: no step of a redeploy runs Python, "
                                             "so a dependency change downloads Python again")
        assert plan.describe("uv").endswith("a dependency change downloads Python and uv again")


def test_a_later_buildpack_is_seen_in_the_buildpack_plan(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    assert not cache_plan.later_buildpack_requires_python(path)  # no plan file
    path.write_text('[[entries]]\nname = "python"\n')
    assert not cache_plan.later_buildpack_requires_python(path)  # this buildpack's own requirement
    path.write_text('[[entries]]\nname = "python"\n\n[[entries]]\nname = "python"\n[entries.metadata]\nbuild = true\n')
    assert cache_plan.later_buildpack_requires_python(path)
    path.write_text("not toml [")
    assert not cache_plan.later_buildpack_requires_python(path)


# --- packed copies ---------------------------------------------------------------------------


class Meta(LayerMetadata):
    version: str


DEFINITION = LayerDefinition("thing", LayerTypes(launch=True), Meta, image_reuse=True)


def tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    (root / "bin" / "tool").chmod(0o755)
    (root / "bin" / "python").symlink_to("/layers/elsewhere/bin/python3")  # a venv's link to the runtime
    (root / "lib").mkdir()
    (root / "lib" / "data").write_text("data")
    os.link(root / "lib" / "data", root / "lib" / "linked")
    return root


def test_a_packed_copy_round_trips_files_modes_and_links(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    source = tree(tmp_path / "source")
    packed.save(DEFINITION, layers, source, Meta(version="1"))
    assert sorted(p.name for p in (layers / "thing-packed").iterdir()) == [packed.ARCHIVE]
    assert toml_io.load(layers / "thing-packed.toml") == {"types": {"launch": False, "build": False, "cache": True},
                                                          "metadata": {"version": "1"}}
    archive = packed.find(DEFINITION, layers, Meta(version="1"))
    assert archive is not None and packed.find(DEFINITION, layers, Meta(version="2")) is None
    assert packed.stale(DEFINITION, layers, Meta(version="2")) == "version changed from 1 to 2"
    dest = tmp_path / "dest"
    dest.mkdir()  # an empty layer directory, as `fill` gives
    packed.unpack(archive, dest)
    assert os.readlink(dest / "bin" / "python") == "/layers/elsewhere/bin/python3"
    assert os.access(dest / "bin" / "tool", os.X_OK) and (dest / "lib" / "linked").read_text() == "data"
    assert packed.keep(DEFINITION, layers, Meta(version="1")) and not packed.keep(DEFINITION, layers, Meta(version="2"))
    assert packed.drop(DEFINITION, layers) and not (layers / "thing-packed").exists()
    assert not packed.drop(DEFINITION, layers)


def test_a_copy_without_its_archive_is_not_current(tmp_path: Path) -> None:
    (tmp_path / "thing-packed").mkdir()
    toml_io.dump({"metadata": {"version": "1"}}, tmp_path / "thing-packed.toml")
    assert packed.find(DEFINITION, tmp_path, Meta(version="1")) is None
    assert packed.stale(DEFINITION, tmp_path, Meta(version="1")) == "its archive was not restored"


# --- launch layers without their files ---------------------------------------------------------


def test_a_launch_layer_back_as_metadata_only_is_reused_without_files(tmp_path: Path) -> None:
    toml_io.dump({"metadata": {"version": "1"}}, tmp_path / "thing.toml")  # from the previous image
    opened = DEFINITION.open(tmp_path, Meta(version="1"))
    assert isinstance(opened, Restored) and not opened.files
    assert not (tmp_path / "thing").exists()  # the exporter reuses the image's layer
    assert toml_io.load(tmp_path / "thing.toml")["types"] == {"launch": True, "build": False, "cache": False}
    changed = DEFINITION.open(tmp_path, Meta(version="2"))
    assert not isinstance(changed, Restored) and changed.reason == "version changed from 1 to 2"


def test_files_on_demand_are_obtained_once_and_given_up_when_unchanged(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    source = tree(tmp_path / "source")
    pack_tar_zst(source, tmp_path / "copy.tar.zst")
    calls = []

    def obtain() -> None:
        calls.append(1)
        packed.unpack(tmp_path / "copy.tar.zst", layers / "thing")

    files = OnDemand(DEFINITION.layer(layers), in_image=True, obtain=obtain)
    assert not files.has_files and not files.modified()
    env: dict[str, str] = {"PATH": "/usr/bin"}
    assert files.need(env) == layers / "thing" and files.need(env) == layers / "thing"
    assert calls == [1] and env["PATH"] == f"{layers / 'thing' / 'bin'}:/usr/bin"
    assert not files.modified()
    assert files.release() and not (layers / "thing").exists()  # the image's own: the exporter reuses it

    again = OnDemand(DEFINITION.layer(layers), in_image=True, obtain=obtain)
    again.need({})
    (layers / "thing" / "lib" / "added").write_text("a hook installed something")
    assert again.modified() and not again.release() and (layers / "thing").is_dir()

    made = OnDemand.present(DEFINITION.layer(layers))  # made by this build: never the image's
    assert made.has_files and made.modified() and not made.release()


def test_a_plan_without_steps_keeps_launch_layers_out_of_the_cache() -> None:
    assert CachePlan().launch_types == LayerTypes(launch=True)
    assert not CachePlan().packed_runtime
