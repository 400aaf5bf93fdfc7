"""A redeploy with nothing changed (redeploy/): what is digested, what is recorded, when the record
applies, and that applying it writes back what the recorded build left. On real directories laid
out as the lifecycle leaves them; tests/e2e/test_reference.py replays real builds."""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path

import pytest

from python_buildpack import output, redeploy
from python_buildpack.redeploy import inputs, record

TODAY = datetime.date(2026, 12, 7)
VENV_TOML = '[types]\nlaunch = true\nbuild = false\ncache = false\n\n[metadata]\npython_version = "3.12.1"\n'
PACKED_TOML = '[types]\nlaunch = false\nbuild = false\ncache = true\n\n[metadata]\ndigest = "abc"\n'
SMALL_TOML = "[types]\nlaunch = true\nbuild = false\ncache = false\n"
LOG = [["header", "Stack"], ["step", "scalingo-22 (amd64)"], ["warning", "Old", "Move on."]]


def built_layers(root: Path) -> Path:
    """A layers dir as a build leaves it: a big launch layer with metadata, a cached packed copy,
    a small launch layer made at every build (a read-only directory, a program), launch.toml, an SBOM."""
    layers = root / "layers"
    (layers / "venv" / "lib").mkdir(parents=True)
    (layers / "venv" / "lib" / "big.py").write_bytes(b"x" * (record.MAX_LAYER_BYTES + 1))
    (layers / "venv.toml").write_text(VENV_TOML)
    (layers / "venv-packed").mkdir()
    (layers / "venv-packed" / "venv.tar.zst").write_bytes(b"packed")
    (layers / "venv-packed.toml").write_text(PACKED_TOML)
    program = layers / "web-concurrency" / "exec.d" / "web_concurrency"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\necho WEB_CONCURRENCY=2\n")
    program.chmod(0o755)
    (layers / "web-concurrency" / "exec.d" / "link").symlink_to("web_concurrency")
    (layers / "web-concurrency").chmod(0o555)
    (layers / "web-concurrency.toml").write_text(SMALL_TOML)
    (layers / "launch.toml").write_text('[[processes]]\ntype = "web"\ncommand = ["gunicorn"]\n')
    (layers / "venv.sbom.cdx.json").write_text('{"components": []}')
    return layers


def restored(built: Path, root: Path) -> Path:
    """What the restorer makes of it for the next build: tomls without types, the cached layer
    back, no launch layer's files, the image's SBOMs."""
    layers = root / "restored"
    layers.mkdir()
    for name in ("venv", "venv-packed", "web-concurrency"):
        metadata = (built / f"{name}.toml").read_text().partition("[metadata]")[2]
        (layers / f"{name}.toml").write_text(f"[metadata]{metadata}" if metadata else "")
    shutil.copytree(built / "venv-packed", layers / "venv-packed")
    shutil.copy(built / "venv.sbom.cdx.json", layers)
    for name in ("build-record", "build-record.toml"):
        source = built / name
        if source.is_dir():
            shutil.copytree(source, layers / name)
        elif source.exists():
            shutil.copy(source, layers / name)
    return layers


def tree(root: Path) -> dict[str, object]:
    entries: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        key = str(path.relative_to(root))
        entries[key] = (os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else "dir",
                        info.st_mode)
    return entries


def test_take_then_apply_writes_back_what_the_build_left_but_the_big_launch_layer(tmp_path: Path) -> None:
    built = built_layers(tmp_path)
    taken = record.take(built, {"app:requirements.txt": "1"}, LOG)
    assert taken["layers"]["venv"].get("files") is None  # reused from the image, as a full build reuses it
    record.save(built, taken)
    layers = restored(built, tmp_path)
    assert record.restored_difference(layers, record.load(layers) or {}) == ""
    record.apply(layers, taken)
    expected = {k: v for k, v in tree(built).items() if k != "venv" and not k.startswith("venv/")}
    assert tree(layers) == expected


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda layers: (layers / "venv.toml").unlink(), "the layer venv was not restored (a lost cache or image)"),
        (lambda layers: (layers / "venv.toml").write_text('[metadata]\npython_version = "3.12.2"\n'),
         "the layer venv is not the one the last build left"),
        (lambda layers: (layers / "venv-packed" / "venv.tar.zst").write_bytes(b"other"),
         "the files of the cached layer venv-packed did not come back"),
        (lambda layers: (layers / "stray.txt").write_text(""), "stray.txt is in the layers dir"),
        (lambda layers: (layers / "nltk.toml").write_text(""),
         "the layer nltk was restored, which the last build did not leave"),
    ],
)
def test_restored_layers_that_are_not_the_recorded_builds_are_said(tmp_path: Path, change, said: str) -> None:
    built = built_layers(tmp_path)
    taken = record.take(built, {}, LOG)
    layers = restored(built, tmp_path)
    change(layers)
    assert record.restored_difference(layers, taken) == said


def test_a_layer_made_for_a_later_buildpack_is_not_recordable(tmp_path: Path) -> None:
    built = built_layers(tmp_path)
    (built / "python.toml").write_text("[types]\nlaunch = true\nbuild = true\ncache = false\n")
    with pytest.raises(record.NotRecordable, match="the layer python is made for a later buildpack"):
        record.take(built, {}, LOG)


def test_a_big_launch_layer_without_metadata_is_not_recordable(tmp_path: Path) -> None:
    built = built_layers(tmp_path)
    (built / "venv.toml").write_text(SMALL_TOML)
    with pytest.raises(record.NotRecordable, match="the layer venv is made at every build"):
        record.take(built, {}, LOG)


def test_app_files_settings_and_volatile_variables(tmp_path: Path) -> None:
    app, platform, plan = tmp_path / "app", tmp_path / "platform", tmp_path / "plan.toml"
    (app / "bin").mkdir(parents=True)
    (app / "requirements.txt").write_text("flask\n")
    (app / "bin" / "post_compile").write_text("echo\n")
    (platform / "env").mkdir(parents=True)
    (platform / "env" / "BP_X").write_text("1")
    plan.write_text("")
    env = {"CNB_BP_PLAN_PATH": "/tmp/plan.1", "HOSTNAME": "c1", "SECRET": "hunter2"}

    def digests(**extra: str) -> dict[str, str]:
        gathered = inputs.gather(app, tmp_path, platform, plan, env | extra, TODAY)
        assert gathered.problem == ""
        return gathered.digests

    first = digests()
    assert "hunter2" not in json.dumps(first)  # values are digested, never kept
    assert digests(CNB_BP_PLAN_PATH="/tmp/plan.2", HOSTNAME="c2") == first
    assert inputs.differences(first, digests(SECRET="x")) == "the variable SECRET changed"
    (app / "bin" / "post_compile").chmod(0o755)
    (platform / "env" / "BP_X").write_text("2")
    (app / "Procfile").write_text("web: gunicorn app:app\n")
    assert inputs.differences(first, digests()) == (
        "Procfile was added, bin/post_compile changed, the platform's env/BP_X changed")
    later = inputs.gather(app, tmp_path, platform, plan, env, TODAY + datetime.timedelta(days=1)).digests
    assert "the date changed" in inputs.differences(digests(), later)


def test_an_app_too_large_to_digest_is_built_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "MAX_APP_FILES", 2)
    for name in "abc":
        (tmp_path / name).write_text(name)
    gathered = inputs.gather(tmp_path, tmp_path, None, tmp_path / "plan", {}, TODAY)
    assert gathered.problem == "the app has more than 2 files or 256 MB"


def test_replay_after_a_recorded_build_and_the_full_build_when_an_input_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("flask\n")
    built = built_layers(tmp_path)
    plan = tmp_path / "plan.toml"
    plan.write_text("")
    # The lifecycle gives every build the same layers dir: the restored one here.
    env = {"CNB_LAYERS_DIR": str(tmp_path / "restored"), "CNB_BP_PLAN_PATH": str(plan),
           "CNB_BUILDPACK_DIR": str(tmp_path / "bp")}
    monkeypatch.chdir(app)
    assert not redeploy.replay(env)  # no record: the full build runs...
    since = output.position()
    output.header("Stack")
    output.step("scalingo-22 (amd64)")
    log = output.transcript(since)
    monkeypatch.setattr(redeploy, "SECTIONS", ("Stack",))
    redeploy.finish(built, app, "", log)  # ...and records itself
    assert "reuses these layers without running the build (inputs recorded)" in capsys.readouterr().out

    layers = restored(built, tmp_path)
    assert redeploy.replay(env)
    printed = capsys.readouterr().out
    assert "## Nothing changed\n   - The app's 1 file, the settings" in printed
    assert "## Stack\n   - scalingo-22 (amd64)\n\n## Done (" in printed
    assert (layers / "launch.toml").read_text() == (built / "launch.toml").read_text()

    shutil.rmtree(layers)
    layers = restored(built, tmp_path)
    (app / "requirements.txt").write_text("flask\ngunicorn\n")
    assert not redeploy.replay(env)
    redeploy.finish(layers, app, "bin/post_compile at every build", log)
    printed = capsys.readouterr().out
    assert "The last build's record did not apply: requirements.txt changed" in printed
    assert "A redeploy with nothing changed runs the build again: bin/post_compile at every build" in printed
    assert not (layers / record.LAYER).exists() and not (layers / f"{record.LAYER}.toml").exists()


def test_a_build_that_changes_the_app_is_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    built = built_layers(tmp_path)
    plan = tmp_path / "plan.toml"
    plan.write_text("")
    monkeypatch.chdir(app)
    redeploy.replay({"CNB_LAYERS_DIR": str(built), "CNB_BP_PLAN_PATH": str(plan)})
    (app / "staticfiles").mkdir()
    (app / "staticfiles" / "app.css").write_text("")
    monkeypatch.setattr(redeploy, "SECTIONS", ())
    redeploy.finish(built, app, "", [])
    assert "runs the build again: the build changed the app's files (staticfiles/app.css was added)" in (
        capsys.readouterr().out)


def test_a_replay_that_fails_midway_leaves_no_read_only_layer_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The full build runs after it, from the restored layers: the small launch layers the replay
    had made (a read-only directory) are gone, and the log says why the record did not apply."""
    app = tmp_path / "app"
    app.mkdir()
    built = built_layers(tmp_path)
    plan = tmp_path / "plan.toml"
    plan.write_text("")
    env = {"CNB_LAYERS_DIR": str(tmp_path / "restored"), "CNB_BP_PLAN_PATH": str(plan)}
    monkeypatch.chdir(app)
    redeploy.replay(env)
    monkeypatch.setattr(redeploy, "SECTIONS", ())
    redeploy.finish(built, app, "", [])
    layers = restored(built, tmp_path)
    toml = record.TOML
    monkeypatch.setattr(record, "TOML", None)  # writing the record's own toml fails, after the layers
    assert not redeploy.replay(env)
    assert not (layers / "web-concurrency").exists()
    monkeypatch.setattr(record, "TOML", toml)
    redeploy.finish(layers, app, "", [])
    assert "The last build's record did not apply: it could not be used (TypeError" in capsys.readouterr().out


def test_inputs_that_cannot_be_digested_build_in_full_and_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    plan = tmp_path / "plan.toml"
    plan.write_text("")

    def unreadable(buildpack_dir: Path) -> str:
        raise PermissionError(13, "Permission denied", str(buildpack_dir / "buildpack.toml"))

    monkeypatch.setattr(inputs, "buildpack_digest", unreadable)
    monkeypatch.setattr("python_buildpack.redeploy.gather", inputs.gather)
    monkeypatch.chdir(app)
    assert not redeploy.replay({"CNB_LAYERS_DIR": str(tmp_path), "CNB_BP_PLAN_PATH": str(plan)})
    redeploy.finish(tmp_path, app, "", [])
    assert ("A redeploy with nothing changed runs the build again: its inputs could not be digested "
            "(PermissionError: [Errno 13] Permission denied:") in capsys.readouterr().out
