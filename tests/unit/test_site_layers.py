"""Site layers (layers/site_layers.py) on real files: distributions laid out as installers leave
them (files, `.dist-info` with a RECORD), split into layers, updated from their stubs, and
imported through the `.pth` file by a real interpreter."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from python_buildpack.caching import packed
from python_buildpack.cnb.models import LayerTypes
from python_buildpack.errors import BuildError
from python_buildpack.layers import site_layers
from python_buildpack.layers.site_layers import PTH, SiteMetadata

BASE = SiteMetadata(python_version="3.11.7", stack="scalingo-22", arch="amd64", app_dir="/workspace", dists={})
TYPES = LayerTypes(launch=True)
MIB = 2**20


def install(site: Path, name: str, version: str, files: dict[str, bytes]) -> str:
    """Writes a distribution as pip leaves it: its files, then a .dist-info with a RECORD."""
    info = f"{name}-{version}.dist-info"
    rows = []
    for path, data in {**files, f"{info}/METADATA": f"Name: {name}\nVersion: {version}\n".encode()}.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows += [f"../../../bin/{name}-script,,", f"{info}/RECORD,,"]
    (site / info / "RECORD").write_text("\n".join(rows) + "\n")
    return info


def uninstall(site: Path, info: str) -> None:
    """What pip does to a stub: the files its RECORD lists that exist, then the .dist-info."""
    for row in (site / info / "RECORD").read_text().splitlines():
        path = site / row.split(",")[0]
        if path.is_file() and ".." not in row.split(",")[0]:
            path.unlink()
    shutil.rmtree(site / info, ignore_errors=True)


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    venv = tmp_path / "layers" / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    install(site, "flask", "3.1.3", {"flask/__init__.py": b"VERSION = '3.1.3'\n", "flask/app.py": b"x = 1\n"})
    install(site, "six", "1.16.0", {"six.py": b"__version__ = '1.16.0'\n"})
    (site / "__pycache__").mkdir()
    (site / "__pycache__" / "six.cpython-311.pyc").write_bytes(b"compiled after the install")
    install(site, "big", "1.0", {"big/__init__.py": b"", "big/blob.bin": b"\0" * (9 * MIB)})
    # A namespace package shared by two distributions.
    install(site, "ns-one", "1.0", {"nspkg/one/__init__.py": b"ONE = 1\n"})
    install(site, "ns-two", "1.0", {"nspkg/two/__init__.py": b"TWO = 2\n"})
    (site / "unowned.py").write_text("MADE = 'by a hook'\n")
    return venv


def site_of(venv: Path) -> Path:
    site = site_layers.site_dir(venv)
    assert site is not None
    return site


def layer_of(layers_dir: Path, info: str) -> str:
    for name in site_layers.previous_names(layers_dir):
        metadata = site_layers.definition(name).previous(layers_dir)
        if metadata is not None and info in metadata.dists:
            return name
    raise AssertionError(f"{info} is in no layer")


def imports(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    """A real interpreter with the venv's site-packages as a site dir (its .pth files run)."""
    script = f"import site; site.addsitedir({str(site_of(venv))!r}); {code}"
    return subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, check=False)


def split(venv: Path, stubs: site_layers.Stubs | None = None) -> Path:
    record = site_layers.split(venv, venv.parent, BASE, TYPES, stubs)
    kept = venv.parent / "record.tar.zst"
    record.replace(kept)
    return kept


def next_build(venv: Path, record: Path) -> site_layers.Stubs:
    """The next build's view: the site layers' metadata without their files (which stay in the
    previous image, `image_of`), then the stubs."""
    layers_dir = venv.parent
    for name in site_layers.previous_names(layers_dir):
        shutil.rmtree(image_of(venv) / name, ignore_errors=True)
        shutil.move(layers_dir / name, image_of(venv) / name)
    stubs = site_layers.place_stubs(venv, layers_dir, record, BASE)
    assert isinstance(stubs, site_layers.Stubs), stubs
    return stubs


def image_of(venv: Path) -> Path:
    """Where the previous image's site layers are kept, as the exporter would reuse them."""
    image = venv.parent.parent / "image"
    image.mkdir(exist_ok=True)
    return image


def test_split_gives_each_distribution_one_layer_and_the_venv_imports_them(venv: Path) -> None:
    layers_dir, site = venv.parent, site_of(venv)
    split(venv)
    assert layer_of(layers_dir, "big-1.0.dist-info") == "site-pkg-big"  # 9 MB: a layer of its own
    assert layer_of(layers_dir, "ns-one-1.0.dist-info") == layer_of(layers_dir, "ns-two-1.0.dist-info")
    # The venv's own site-packages keeps the .pth and what no distribution owns.
    assert sorted(p.name for p in site.iterdir()) == ["unowned.py", PTH]
    six_layer = layers_dir / layer_of(layers_dir, "six-1.16.0.dist-info") / "site-packages"
    assert (six_layer / "six.py").is_file() and (six_layer / "__pycache__" / "six.cpython-311.pyc").is_file()
    for name in site_layers.previous_names(layers_dir):
        metadata = site_layers.definition(name).previous(layers_dir)
        assert metadata is not None
        copy = packed.find(site_layers.definition(name), layers_dir, metadata)
        # A layer of one large distribution has no copy: its change replaces it whole.
        assert (copy is None) == (name == "site-pkg-big"), name
        assert "launch = true" in (layers_dir / f"{name}.toml").read_text()
    result = imports(venv, "import flask, six, big, nspkg.one, nspkg.two, unowned; print(six.__version__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1.16.0"


def test_an_update_from_stubs_rewrites_only_the_changed_layer(venv: Path) -> None:
    layers_dir = venv.parent
    record = split(venv)
    six_layer = layer_of(layers_dir, "six-1.16.0.dist-info")
    before = {n: site_layers.definition(n).previous(layers_dir) for n in site_layers.previous_names(layers_dir)}

    stubs = next_build(venv, record)
    site = site_of(venv)
    assert not (site / PTH).exists() and (site / "six-1.16.0.dist-info" / "RECORD").is_file()
    assert not (site / "six.py").exists()  # a stub: the record without the files
    uninstall(site, "six-1.16.0.dist-info")
    install(site, "six", "1.17.0", {"six.py": b"__version__ = '1.17.0'\n"})
    install(site, "attrs", "25.3.0", {"attrs/__init__.py": b""})
    split(venv, stubs)

    assert layer_of(layers_dir, "six-1.17.0.dist-info") == six_layer  # where the old version was
    for name, metadata in before.items():
        changed = name in (six_layer, layer_of(layers_dir, "attrs-25.3.0.dist-info"))
        # An unchanged layer: no files (the exporter reuses the image's), its metadata as before.
        assert (layers_dir / name).exists() == changed, name
        if not changed:
            assert site_layers.definition(name).previous(layers_dir) == metadata
            assert "launch = true" in (layers_dir / f"{name}.toml").read_text()
    # The layer put back whole, as the next build's exporter gets it, imports the new version only.
    for name in site_layers.previous_names(layers_dir):
        if not (layers_dir / name).exists():
            shutil.copytree(image_of(venv) / name, layers_dir / name)
    result = imports(venv, "import six, flask, big, attrs; print(six.__version__)")
    assert result.stdout.strip() == "1.17.0", result.stderr
    files = {p.name for p in (layers_dir / six_layer).rglob("*")}
    assert "six-1.16.0.dist-info" not in files and "six.cpython-311.pyc" not in files


def test_a_removed_distribution_leaves_nothing_behind(venv: Path) -> None:
    layers_dir = venv.parent
    record = split(venv)
    six_layer = layers_dir / layer_of(layers_dir, "six-1.16.0.dist-info")
    stubs = next_build(venv, record)
    uninstall(site_of(venv), "six-1.16.0.dist-info")
    uninstall(site_of(venv), "ns-two-1.0.dist-info")
    split(venv, stubs)
    left = {p.relative_to(layers_dir).as_posix() for p in layers_dir.glob("site-*/site-packages/**/*")}
    assert not [p for p in left if "six" in p or "nspkg/two" in p], left
    assert not (six_layer / "site-packages" / "__pycache__").exists()  # emptied: pruned
    ns_layer = layers_dir / layer_of(layers_dir, "ns-one-1.0.dist-info")
    assert (ns_layer / "site-packages" / "nspkg" / "one" / "__init__.py").is_file()


def test_a_layer_emptied_of_distributions_goes(venv: Path) -> None:
    layers_dir = venv.parent
    record = split(venv)
    stubs = next_build(venv, record)
    uninstall(site_of(venv), "big-1.0.dist-info")
    split(venv, stubs)
    assert "site-pkg-big" not in site_layers.previous_names(layers_dir)
    assert not (layers_dir / "site-pkg-big-packed.toml").exists()
    assert "site-pkg-big" not in (site_of(venv) / PTH).read_text()


def test_stubs_that_do_not_match_the_layers_are_refused(venv: Path) -> None:
    layers_dir = venv.parent
    record = split(venv)
    name = layer_of(layers_dir, "six-1.16.0.dist-info")
    metadata = site_layers.definition(name).previous(layers_dir)
    assert metadata is not None
    site_layers.definition(name).layer(layers_dir).write(TYPES, metadata.model_copy(update={"dists": {}}))
    reason = site_layers.place_stubs(venv, layers_dir, record, BASE)
    assert reason == "the record of its distributions does not match its layers"
    assert site_layers.place_stubs(venv, layers_dir, None, BASE) == "the record of its distributions is not in the cache"


def test_the_setting_and_the_size_decide(venv: Path) -> None:
    assert site_layers.mode({}) == "auto" and site_layers.mode({"BP_PYTHON_VENV_LAYERS": " Split "}) == "split"
    with pytest.raises(BuildError, match="BP_PYTHON_VENV_LAYERS"):
        site_layers.mode({"BP_PYTHON_VENV_LAYERS": "yes"})
    assert not site_layers.wanted(venv, "auto", python_steps=False)  # 9 MB: under the threshold
    assert site_layers.wanted(venv, "split", python_steps=False)
    assert not site_layers.wanted(venv, "split", python_steps=True)  # a hook needs the venv whole
    assert not site_layers.wanted(venv, "single", python_steps=False)


def test_a_split_venv_changed_whole_is_merged_back(venv: Path) -> None:
    """A venv unpacked with its layers (the previous image lost) that a hook changes: its
    layers' files come back into its site-packages, and the layers go."""
    layers_dir = venv.parent
    split(venv)
    install(site_of(venv), "attrs", "25.3.0", {"attrs/__init__.py": b""})
    site_layers.merge_back(venv, layers_dir)
    assert site_layers.previous_names(layers_dir) == [] and not list(layers_dir.glob("site-*"))
    names = {p.name for p in site_of(venv).iterdir()}
    assert {"six.py", "flask", "big", "nspkg", "attrs", "six-1.16.0.dist-info"} <= names and PTH not in names
    assert (site_of(venv) / "nspkg" / "one").is_dir() and (site_of(venv) / "nspkg" / "two").is_dir()
    result = imports(venv, "import six, flask, big, nspkg.one, nspkg.two, attrs")
    assert result.returncode == 0, result.stderr


def test_a_new_distribution_in_a_namespace_leaves_its_neighbour_alone(venv: Path) -> None:
    """A distribution installed into the namespace directory of one that stays a stub: the stub
    is still unchanged, and both end up in its layer."""
    layers_dir = venv.parent
    record = split(venv)
    ns_layer = layer_of(layers_dir, "ns-one-1.0.dist-info")
    stubs = next_build(venv, record)
    install(site_of(venv), "ns-three", "1.0", {"nspkg/three/__init__.py": b"THREE = 3\n"})
    split(venv, stubs)
    assert layer_of(layers_dir, "ns-three-1.0.dist-info") == ns_layer
    files = {p.relative_to(layers_dir / ns_layer).as_posix() for p in (layers_dir / ns_layer).rglob("nspkg/**/*.py")}
    assert files == {f"site-packages/nspkg/{n}/__init__.py" for n in ("one", "two", "three")}


def test_a_distribution_joining_a_layer_without_a_copy_asks_for_a_whole_install(venv: Path) -> None:
    """A plugin installed into the package of a distribution that has a layer of its own, and
    no packed copy: that layer cannot be written again without its previous files, so the
    update is refused (the venv is then installed whole); an ordinary update is not."""
    layers_dir = venv.parent
    record = split(venv)
    stubs = next_build(venv, record)
    uninstall(site_of(venv), "six-1.16.0.dist-info")
    install(site_of(venv), "six", "1.17.0", {"six.py": b"__version__ = '1.17.0'\n"})
    assert site_layers.unchangeable(venv, layers_dir, stubs) == ""
    install(site_of(venv), "big-plugin", "2.0", {"big/plugin.py": b"PLUGIN = True\n"})
    reason = site_layers.unchangeable(venv, layers_dir, stubs)
    assert reason == ("big-plugin shares a top-level package with the distribution of layer site-pkg-big, "
                      "whose files are only in the previous image")  # fmt: skip


def test_a_lost_image_cannot_be_rebuilt_from_a_layer_without_a_copy(venv: Path) -> None:
    """The previous image gone, a layer of one distribution has only its metadata: the venv is
    installed again, and says why."""
    layers_dir = venv.parent
    split(venv)
    for name in site_layers.previous_names(layers_dir):
        shutil.rmtree(layers_dir / name)
    reason = site_layers.unpack_all(venv, layers_dir, BASE, TYPES)
    assert reason == "the files of its layer site-pkg-big are only in the previous image"


def test_the_update_of_stubs_is_refused_when_its_layout_is_not_possible(
    venv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dependencies.py checks an update of stubs against its layers: refused (the caller then
    installs the venv whole) with the reason, after the installer's own checks passed."""
    from python_buildpack.dependencies import _laid_out

    layers_dir = venv.parent
    stubs = next_build(venv, split(venv))

    def plugin(path: Path) -> bool:
        install(site_of(path), "big-plugin", "2.0", {"big/plugin.py": b"PLUGIN = True\n"})
        return True

    assert _laid_out(lambda path: False, stubs, layers_dir)(venv) is False
    assert _laid_out(lambda path: True, stubs, layers_dir)(venv) is True  # nothing changed: it fits
    assert _laid_out(plugin, stubs, layers_dir)(venv) is False
    assert "Installing them all since big-plugin shares a top-level package" in capsys.readouterr().out
