"""The `nltk` layer: nltk.txt parsing, and the download / reuse / failure decisions with a
stand-in nltk downloader in a real venv (tests/e2e/test_parity.py runs the real one)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.env import apply_env_dir
from python_buildpack.errors import BuildError
from python_buildpack.layers import nltk as nltk_layer
from python_buildpack.layers.nltk import INDEX_URL_SETTING, read_nltk_txt
from python_buildpack.step_context import Context

# Behaves like `python -m nltk.downloader -e -d DIR [-u URL] ID...` for the options we pass:
# unknown ids ("bad*") print nltk's error line and the exit status stays 0, as nltk's does.
FAKE_DOWNLOADER = textwrap.dedent(
    """
    import os, sys
    args = sys.argv[1:]
    target = url = None
    ids = []
    while args:
        arg = args.pop(0)
        if arg == "-d":
            target = args.pop(0)
        elif arg == "-u":
            url = args.pop(0)
        elif arg != "-e":
            ids.append(arg)
    with open(os.environ["FAKE_NLTK_LOG"], "a") as log:
        log.write(f"{url} {' '.join(ids)} NLTK_DATA={os.environ.get('NLTK_DATA')}\\n")
    for package in ids:
        if package.startswith("bad"):
            print(f"[nltk_data] Error loading {package}: Package {package!r} not found in index")
            continue
        os.makedirs(os.path.join(target, "corpora", package))
        print(f"[nltk_data] Downloading package {package} to {target}...")
    """
)


@pytest.fixture(scope="module")
def venv_with_nltk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    package = next(venv.glob("lib/python3*")) / "site-packages" / "nltk"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "downloader.py").write_text(FAKE_DOWNLOADER)
    return venv


class App:
    def __init__(self, root: Path, venv: Path) -> None:
        self.dir = root / "app"
        self.layers = root / "layers"
        self.dir.mkdir()
        self.layers.mkdir()
        self.venv = venv
        self.log = root / "downloads.log"
        self.log.touch()

    def install(self, **settings: str) -> dict[str, str]:
        env = {"PATH": os.environ["PATH"], "FAKE_NLTK_LOG": str(self.log)}
        ctx = Context(self.dir, self.layers, self.dir, settings)
        nltk_layer.install(ctx, env, self.venv, read_nltk_txt(self.dir))
        return env

    def downloads(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def app(tmp_path: Path, venv_with_nltk: Path) -> App:
    return App(tmp_path, venv_with_nltk)


# --- nltk.txt -------------------------------------------------------------------------


def test_nltk_txt_ids_comments_and_duplicates(tmp_path: Path) -> None:
    assert read_nltk_txt(tmp_path) is None
    (tmp_path / "nltk.txt").write_text(
        "\ufeffpunkt_tab\n# tokenizers\nstopwords wordnet  # two here\n\nomw-1.4\npunkt_tab\n"
    )
    assert read_nltk_txt(tmp_path) == ["punkt_tab", "stopwords", "wordnet", "omw-1.4"]


@pytest.mark.parametrize("content", ["punkt\n../../etc\n", "punkt\n-u http://evil\n"])
def test_nltk_txt_refuses_what_is_not_a_package_id(tmp_path: Path, content: str) -> None:
    (tmp_path / "nltk.txt").write_text(content)
    with pytest.raises(BuildError) as excinfo:
        read_nltk_txt(tmp_path)
    assert excinfo.value.title.startswith("Invalid NLTK package id in nltk.txt")
    assert "Line 2 of nltk.txt" in excinfo.value.details and "punkt_tab" in excinfo.value.details


def test_nltk_txt_that_is_not_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "nltk.txt")
    with pytest.raises(BuildError, match=r"Cannot read nltk\.txt"):
        read_nltk_txt(tmp_path)


# --- the layer ------------------------------------------------------------------------


def test_download_then_reuse_then_change(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    (app.dir / "nltk.txt").write_text("stopwords\npunkt_tab\n")
    env = app.install()
    data = app.layers / "nltk" / "data"
    assert (data / "corpora" / "stopwords").is_dir() and (data / "corpora" / "punkt_tab").is_dir()
    assert env["NLTK_DATA"] == str(data)  # for the build steps that follow
    assert app.downloads() == [f"None stopwords punkt_tab NLTK_DATA={app.layers / '.nltk-download' / 'data'}"]
    assert toml_io.load(app.layers / "nltk.toml") == {
        "types": {"build": False, "launch": True, "cache": True},
        "metadata": {"corpora": ["stopwords", "punkt_tab"], "index_url": ""},
    }
    launch = {"NLTK_DATA": "/app/my_data"}
    apply_env_dir(launch, app.layers / "nltk" / "env")  # at launch and for later build steps
    assert launch["NLTK_DATA"] == f"{data}{os.pathsep}/app/my_data"  # the user's path still searched
    assert not (app.layers / ".nltk-download").exists()

    app.install()
    assert len(app.downloads()) == 1
    assert "Using cached NLTK corpora (stopwords, punkt_tab; nltk.txt unchanged)" in capsys.readouterr().out

    app.install(**{INDEX_URL_SETTING: "https://mirror.example/nltk/index.xml"})
    assert app.downloads()[-1].startswith("https://mirror.example/nltk/index.xml stopwords punkt_tab")
    out = capsys.readouterr().out
    assert "Discarding cached NLTK corpora since BP_PYTHON_NLTK_INDEX_URL changed" in out


def test_failed_download_keeps_the_cached_corpora(app: App) -> None:
    (app.dir / "nltk.txt").write_text("stopwords\n")
    app.install()
    toml_before = (app.layers / "nltk.toml").read_bytes()
    (app.dir / "nltk.txt").write_text("stopwords\nbadcorpus\n")
    with pytest.raises(BuildError) as excinfo:
        app.install()
    error = excinfo.value
    assert error.title == "Could not download the NLTK corpora"
    assert "Error loading badcorpus" in error.details and "nltk's default data server" in error.details
    assert (app.layers / "nltk" / "data" / "corpora" / "stopwords").is_dir()
    assert (app.layers / "nltk.toml").read_bytes() == toml_before
    assert not (app.layers / ".nltk-download").exists()


def test_nltk_txt_without_nltk_warns_and_removes_the_layer(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app.dir / "nltk.txt").write_text("stopwords\n")
    app.install()
    app.venv = tmp_path / "no-nltk-venv"
    app.install()
    assert "Warning: nltk.txt is ignored: nltk is not installed" in capsys.readouterr().err
    assert not (app.layers / "nltk").exists() and not (app.layers / "nltk.toml").exists()


def test_nltk_without_nltk_txt(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    env = app.install()
    assert "nltk is installed but the app has no nltk.txt" in capsys.readouterr().out
    assert "NLTK_DATA" not in env and app.downloads() == []
