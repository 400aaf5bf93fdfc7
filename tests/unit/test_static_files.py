"""The `static` layer: collectstatic's output recorded with the key of what it reads, put back
by a later build whose key is unchanged, collected again otherwise (real files, real tar.zst)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from python_buildpack.caching.plan import COLLECTSTATIC, CachePlan
from python_buildpack.cnb import toml_io
from python_buildpack.layers import static_files
from python_buildpack.layers.static_files import LAYER_NAME, Static
from python_buildpack.layers.venv import VenvMetadata
from python_buildpack.step_context import Context

VENV = VenvMetadata(python_version="3.13.1", stack="scalingo-24", arch="amd64", package_manager="pip",
                    package_manager_version="26.3", app_dir="/workspace", inputs={"requirements.txt": "ab"})
SOURCE = {"manage.py": "print('manage')\n", "static/site.css": "body {}\n", "collected/old.txt": "committed\n"}


class Deploy:
    """Successive builds of one app: each gets the source afresh, the layers dir is the cache."""

    def __init__(self, tmp_path: Path) -> None:
        self.source = tmp_path / "source"
        self.layers = tmp_path / "layers"
        self.venv = tmp_path / "venv"
        self.tmp_path = tmp_path
        self.runs = 0
        self.pythons = 0
        for name, text in SOURCE.items():
            (self.source / name).parent.mkdir(parents=True, exist_ok=True)
            (self.source / name).write_text(text)
        (self.venv / "bin").mkdir(parents=True)
        (self.venv / "bin" / "gunicorn").write_text("#!/bin/sh\n")
        self.layers.mkdir()

    def build(self, *, user_env: dict[str, str] | None = None, installing: bool = False) -> tuple[Path, Static]:
        app = self.tmp_path / "app"
        shutil.rmtree(app, ignore_errors=True)
        shutil.copytree(self.source, app, symlinks=True)
        ctx = Context(app, self.layers, self.tmp_path, {})
        static = static_files.prepare(ctx, user_env or {}, VENV, installing, "1.0")

        def collect() -> bool:  # what collectstatic does: new files, one changed, one deleted
            self.runs += 1
            (app / "staticfiles" / "css").mkdir(parents=True, exist_ok=True)
            (app / "staticfiles" / "css" / "site.css").write_text((app / "static" / "site.css").read_text())
            (app / "staticfiles" / "link.css").symlink_to("css/site.css")
            (app / "manage.py").write_text("print('rewritten')\n")
            (app / "collected" / "old.txt").unlink()
            return True

        def need_python() -> None:
            self.pythons += 1

        static_files.collect(ctx, static, self.venv, collect, need_python)
        return app, static


def test_a_build_with_nothing_changed_puts_the_output_back_without_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy = Deploy(tmp_path)
    first, _ = deploy.build()
    assert (deploy.runs, deploy.pythons) == (1, 1)
    assert toml_io.load(deploy.layers / f"{LAYER_NAME}.toml")["types"] == {"launch": False, "build": False, "cache": True}
    capsys.readouterr()

    second, static = deploy.build()
    assert static.replay is not None and static.replay.gunicorn
    assert (deploy.runs, deploy.pythons) == (1, 1)  # neither collectstatic nor Python
    assert "- Using cached collectstatic output (app files, dependencies and settings unchanged;" in capsys.readouterr().out
    assert (second / "staticfiles/css/site.css").read_text() == "body {}\n"
    assert (second / "staticfiles/link.css").readlink() == Path("css/site.css")
    assert (second / "manage.py").read_text() == "print('rewritten')\n"  # changed by it: replaced
    assert not (second / "collected/old.txt").exists()  # deleted by it: deleted again
    assert sorted(p.relative_to(second) for p in second.rglob("*")) == sorted(p.relative_to(first) for p in first.rglob("*"))
    assert static_files.has_gunicorn(static, deploy.venv.parent / "missing", venv_files=False)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"static/site.css": "body { color: red }\n"}, "the app's files changed"),
        ({"static/new.css": "p {}\n"}, "the app's files changed"),
        ({"user_env": {"SITE_BANNER": "on"}}, "the app's environment variables changed"),
        ({"installing": True}, "the dependencies are installed again"),
    ],
    ids=["changed-file", "new-file", "setting", "installing"],
)
def test_anything_it_reads_changed_runs_collectstatic_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], reason: str
) -> None:
    deploy = Deploy(tmp_path)
    deploy.build()
    options: dict[str, object] = {}
    for name, value in change.items():
        if name in ("user_env", "installing"):
            options[name] = value
        else:
            (deploy.source / name).write_text(str(value))
    capsys.readouterr()
    app, static = deploy.build(**options)  # type: ignore[arg-type]
    assert static.replay is None
    assert f"- Discarding cached collectstatic output since {reason}" in capsys.readouterr().out
    assert (deploy.runs, deploy.pythons) == (2, 2)
    assert (app / "staticfiles/css/site.css").read_text() == (deploy.source / "static/site.css").read_text()
    _, again = deploy.build(**options)  # type: ignore[arg-type]
    assert (again.replay is not None) is not options.get("installing", False)


def test_a_damaged_copy_runs_collectstatic_instead(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deploy = Deploy(tmp_path)
    deploy.build()
    (deploy.layers / LAYER_NAME / static_files.ARCHIVE).write_bytes(b"not zstd")
    capsys.readouterr()
    app, _ = deploy.build()
    out = capsys.readouterr().out
    assert "- Discarding cached collectstatic output since The Python runtime archive" not in out
    assert "- Discarding cached collectstatic output since" in out
    assert (deploy.runs, deploy.pythons) == (2, 2)
    assert (app / "staticfiles/css/site.css").is_file()


def test_too_many_files_are_not_keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setattr(static_files, "MAX_FILES", 2)
    deploy = Deploy(tmp_path)
    deploy.build()
    deploy.build()
    assert (deploy.runs, deploy.pythons) == (2, 2)
    assert "Not caching collectstatic's output: the app has more than 2 files to compare" in capsys.readouterr().out
    assert not (deploy.layers / f"{LAYER_NAME}.toml").exists()


def test_a_replayed_step_keeps_the_packed_copies_but_needs_no_python() -> None:
    plan = CachePlan(runs_python=(COLLECTSTATIC,)).replaying(COLLECTSTATIC)
    assert plan.runs_python_now == () and plan.packed_runtime  # a changed app runs it again
    both = CachePlan(runs_python=(COLLECTSTATIC, "bin/post_compile runs")).replaying(COLLECTSTATIC)
    assert both.runs_python_now == ("bin/post_compile runs",)
