"""The `nltk` layer: NLTK corpora listed in the app's nltk.txt (launch, cache).

When the app has an nltk.txt and nltk is installed in its venv, nltk's own downloader
(`python -m nltk.downloader`, the app's nltk version) fetches the listed packages into the
layer, and NLTK_DATA points at them at launch (and in the build steps after this one). The
layer is reused while the list of corpora and the index URL are unchanged, so a redeploy
downloads nothing. A failed download changes nothing: the packages are fetched into a
scratch directory and replace the cached ones only when every package arrived.

BP_PYTHON_NLTK_INDEX_URL replaces nltk's default data server (`-u`, the URL of an
index.xml): a private mirror. nltk 3.10 and later refuse to fetch from loopback or private
addresses, and from file:// paths outside NLTK_DATA, so such a mirror must use a public
address with those versions.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from .. import output
from ..cnb.env import apply_layer
from ..cnb.layers import Empty, Layer, LayerDefinition, LayerMetadata, Restored
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..files.safe_read import UnreadableFileError, read_bounded
from ..step_context import Context

NLTK_TXT = "nltk.txt"
INDEX_URL_SETTING = "BP_PYTHON_NLTK_INDEX_URL"
DATA = "data"  # NLTK_DATA: <layer>/data/corpora/..., tokenizers/...
SCRATCH = ".nltk-download"  # no .toml next to it: a lifecycle ignores it

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
# Lines nltk's downloader prints for a package it could not install (it exits 0 anyway).
_FAILED = re.compile(r"^\[nltk_data\] Error|^Error installing package", re.MULTILINE)
# `python -m nltk.downloader` warns that nltk imported it first: noise in the build log.
_RUNPY_WARNING = "ignore:'nltk.downloader' found in sys.modules:RuntimeWarning"


class NltkMetadata(LayerMetadata):
    corpora: list[str] = Field(title="the corpora listed in nltk.txt")
    index_url: str = Field(title=INDEX_URL_SETTING)


LAYER = LayerDefinition("nltk", LayerTypes(launch=True, cache=True), NltkMetadata)
LAYER_NAME = LAYER.name


def install(ctx: Context, env: dict[str, str], venv: Path, corpora: list[str] | None) -> None:
    """Downloads (or reuses) the corpora of nltk.txt (`corpora`, None without the file); adds
    NLTK_DATA to `env` for the later build steps."""
    layer = LAYER.layer(ctx.layers_dir)
    installed = _nltk_installed(venv)
    if corpora is None or not installed:
        layer.delete()
        if corpora is None and installed:
            output.header("NLTK corpora")
            output.step(f"nltk is installed but the app has no {NLTK_TXT}: no corpora downloaded")
        elif corpora is not None:
            output.header("NLTK corpora")
            output.warning(
                f"{NLTK_TXT} is ignored: nltk is not installed",
                f"The app has an {NLTK_TXT}, but its dependencies do not include nltk, so no corpora "
                f"are downloaded. Add nltk to the dependencies, or delete {NLTK_TXT}.",
            )
        return
    output.header("NLTK corpora")
    if not corpora:
        layer.delete()
        output.step(f"{NLTK_TXT} lists no corpora: nothing to download")
        return
    index_url = ctx.settings.get(INDEX_URL_SETTING, "").strip()
    opened = LAYER.open(ctx.layers_dir, NltkMetadata(corpora=corpora, index_url=index_url))
    if isinstance(opened, Restored):
        output.step(f"Using cached NLTK corpora ({', '.join(corpora)}; {NLTK_TXT} unchanged)")
    else:
        if opened.reason:
            output.step(f"Discarding cached NLTK corpora since {opened.reason}")
        _download(ctx, opened, venv, env)
    _write_env(layer, layer.path / DATA)
    apply_layer(env, layer.path)


def read_nltk_txt(app_dir: Path) -> list[str] | None:
    """The package ids of nltk.txt, in order, without duplicates; None without the file.

    One or more ids per line, separated by spaces; blank lines and # comments are skipped.
    """
    path = app_dir / NLTK_TXT
    try:
        text = read_bounded(path, 64 * 1024).decode("utf-8-sig")
    except FileNotFoundError:
        return None
    except UnreadableFileError as e:
        raise BuildError(f"Cannot read {NLTK_TXT}", f"{NLTK_TXT} in the app directory {e}. {_FORMAT}") from None
    except UnicodeDecodeError as e:
        raise BuildError(f"{NLTK_TXT} is not UTF-8 text", f"Invalid byte at offset {e.start}. {_FORMAT}") from None
    corpora: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        for word in line.split("#", 1)[0].split():
            if not _ID.fullmatch(word):
                raise BuildError(
                    f"Invalid NLTK package id in {NLTK_TXT}: {word[:60]!r}",
                    f"Line {number} of {NLTK_TXT} holds {word[:60]!r}, which is not an NLTK package "
                    f"id (letters, digits, _ . -). {_FORMAT}",
                )
            if word not in corpora:
                corpora.append(word)
    return corpora


_FORMAT = (
    f"{NLTK_TXT} lists the NLTK data packages to download, one per line, for example:\n\n"
    "    punkt_tab\n    stopwords\n    wordnet\n"
)


def _nltk_installed(venv: Path) -> bool:
    return any(venv.glob("lib/python3*/site-packages/nltk/__init__.py"))


def _download(ctx: Context, empty: Empty[NltkMetadata], venv: Path, env: Mapping[str, str]) -> None:
    """The corpora, fetched aside: the cached ones stay until every package arrived."""
    corpora, index_url = empty.expected.corpora, empty.expected.index_url
    scratch = ctx.layers_dir / SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)
    target = scratch / DATA
    target.mkdir(parents=True)
    command: list[str | Path] = [venv / "bin" / "python", "-W", _RUNPY_WARNING, "-m", "nltk.downloader", "-e"]
    command += ["-d", target, *(["-u", index_url] if index_url else []), *corpora]
    # nltk 3.10+ only writes below the directories of NLTK_DATA.
    download_env = {**env, "NLTK_DATA": str(target)}
    try:
        with output.timed(f"Downloading NLTK corpora: {', '.join(corpora)}"):
            result = ctx.run(command, download_env, ctx.layers_dir)
        failed = [line for line in result.lines if _FAILED.match(line)]
        if result.returncode != 0 or failed:
            server = index_url or "nltk's default data server"
            raise BuildError(
                "Could not download the NLTK corpora",
                f"`python -m nltk.downloader` failed for the packages of {NLTK_TXT} (see its output "
                f"above{': ' + '; '.join(failed[:3]) if failed else ''}). Check that each id in "
                f"{NLTK_TXT} names a package of the index at {server} (ids are those of "
                f"`nltk.download()`, such as punkt_tab or stopwords), and that the server is "
                f"reachable from the platform ({INDEX_URL_SETTING} sets another index URL). "
                "The corpora cached by the last good build are kept for the next one.",
                output=result.tail(),
            )
        with empty.fill() as filling:
            target.rename(filling.path / DATA)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_env(layer: Layer, data: Path) -> None:
    # NLTK_DATA is a search path: ours first, any the user sets still searched; at launch and
    # in the build steps after this one. Restored files may be hard links into the cache:
    # replace them, never rewrite in place (env.launch/: where builds before 2026-11 put it).
    for directory in ("env", "env.launch"):
        for name in ("NLTK_DATA.prepend", "NLTK_DATA.delim"):
            (layer.path / directory / name).unlink(missing_ok=True)
    layer.env.prepend_path("NLTK_DATA", str(data))
