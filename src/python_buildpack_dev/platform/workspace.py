"""Where one app's builds live on disk: the stand-ins for an image, a cache and a platform dir.

Build and launch both use the same canonical paths (`layers/`, `workspace/`), as containers
do (`/layers`, `/workspace`), so absolute paths written at build time (venv shebangs,
pyvenv.cfg) hold at launch. The image and the cache are stored beside them and materialised
into the canonical paths with hard links, which is fast and safe because the buildpack
replaces files rather than editing them in place.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .references import named_after

BUILDPACK_ID = "scalingo/python"
LAYERS_SUBDIR = BUILDPACK_ID.replace("/", "_")

# Exported files get this mtime (1980-01-01T00:00:01Z), as images built by the lifecycle do.
NORMALISED_MTIME = 315532801


def default_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "python-buildpack" / "local-lifecycle"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def for_app(cls, app_dir: Path, root: Path | None = None) -> Workspace:
        # Named as a reference would be: the reference engine names images by their path.
        return cls((root or default_root()) / named_after(app_dir))

    # canonical paths, shared by the build and the launch "containers"
    @property
    def app(self) -> Path:
        return self.root / "workspace"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def buildpack_layers(self) -> Path:
        return self.layers / LAYERS_SUBDIR

    @property
    def platform(self) -> Path:
        return self.root / "platform"

    # stores
    @property
    def image(self) -> Path:
        return self.root / "image"

    @property
    def image_layers(self) -> Path:
        return self.image / "layers"

    @property
    def image_app(self) -> Path:
        return self.image / "workspace"

    @property
    def launch_toml(self) -> Path:
        return self.image / "launch.toml"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    # the reference engine's platform files (a builder image's /cnb, the lifecycle's outputs)
    @property
    def cnb(self) -> Path:
        return self.root / "cnb"

    @property
    def buildpacks(self) -> Path:
        return self.cnb / "buildpacks"

    @property
    def order(self) -> Path:
        return self.cnb / "order.toml"

    @property
    def analyzed(self) -> Path:
        return self.layers / "analyzed.toml"

    @property
    def group(self) -> Path:
        return self.layers / "group.toml"

    @property
    def plan(self) -> Path:
        return self.layers / "plan.toml"

    @property
    def layout(self) -> Path:
        """OCI layout directory: the run image and every exported app image."""
        return self.root / "layout"

    @property
    def home(self) -> Path:
        """HOME of the build user."""
        return self.root / "home"

    @property
    def image_cnb(self) -> Path:
        """The exported image's /cnb (launcher, process entrypoints), unpacked for launch."""
        return self.root / "image-cnb"


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def link_tree(src: Path, dst: Path) -> None:
    """Copies a tree with hard links (symlinks kept as symlinks)."""
    shutil.copytree(src, dst, symlinks=True, copy_function=os.link)


def copy_file(src: Path, dst: Path) -> None:
    shutil.copy2(src, dst)


def normalise_mtimes(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (NORMALISED_MTIME, NORMALISED_MTIME), follow_symlinks=False)
    os.utime(root, (NORMALISED_MTIME, NORMALISED_MTIME), follow_symlinks=False)
