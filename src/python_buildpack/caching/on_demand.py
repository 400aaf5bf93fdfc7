"""Launch layers whose files a build may not have: the runtime and the venv.

Not cached, a launch layer comes back from the previous image as metadata only, and the
exporter reuses the image's layer as long as its directory stays absent: nothing restored,
nothing read or hashed at the export. A build gets the files when a step runs Python (an
install, a hook, collectstatic), from the layer's packed copy or by making them again, and
gives them up before the export when they are the image's own, unchanged (a fingerprint of
names, sizes and times taken when they were unpacked tells a hook that changed them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..cnb.env import apply_layer
from ..cnb.layers import Layer
from ..files import trees

Fingerprint = frozenset[tuple[str, int, int]]


@dataclass
class OnDemand:
    layer: Layer
    # Its metadata came back from the previous image without files: the image has this layer,
    # so the exporter can reuse it if the directory is gone again at the export.
    in_image: bool
    # Puts the files in place (None: they are there). Logs what it does.
    obtain: Callable[[], None] | None = None
    # The files as obtained (None: made by this build, or restored some other way).
    _obtained: Fingerprint | None = field(default=None, repr=False)

    @classmethod
    def present(cls, layer: Layer) -> OnDemand:
        """Files made by this build (or restored with the layer): not the image's."""
        return cls(layer, in_image=False)

    @classmethod
    def unpacked(cls, layer: Layer) -> OnDemand:
        """Files just unpacked from the packed copy, for a layer the previous image lacks."""
        return cls(layer, in_image=False, _obtained=fingerprint(layer.path))

    @property
    def path(self) -> Path:
        return self.layer.path

    @property
    def has_files(self) -> bool:
        return self.obtain is None

    def need(self, env: dict[str, str]) -> Path:
        """The files, obtained now if they are not there yet; `env` gets the layer's build env."""
        if self.obtain is not None:
            obtain, self.obtain = self.obtain, None
            obtain()
            apply_layer(env, self.path)
            self._obtained = fingerprint(self.path)
        return self.path

    def modified(self) -> bool:
        """Whether the files may differ from those they were obtained from: made by this build,
        or changed since (a hook installing a package)."""
        if not self.has_files:
            return False
        return self._obtained is None or fingerprint(self.path) != self._obtained

    def release(self) -> bool:
        """Removes files that are the previous image's layer, unchanged, so that the exporter
        reuses it rather than reading them all again; whether it did."""
        if not self.in_image or self._obtained is None or self.modified():
            return False
        trees.set_aside(self.path)
        return True


def fingerprint(root: Path) -> Fingerprint:
    """Every entry under `root` with its size and modification time (no file is read)."""
    found = set()
    stack = [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                found.add((entry.path, st.st_size, st.st_mtime_ns))
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return frozenset(found)
