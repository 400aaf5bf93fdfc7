"""Launch on the reference engine: the exported image's layers laid back at their build-time paths,
then the image's own launcher (`/cnb/lifecycle/launcher`), as the image's entrypoint would.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ..platform import oci
from ..platform.build_image import build_user
from ..platform.phases import LaunchError
from ..platform.workspace import Workspace, remove
from .builder import IMAGE_NAME


class ReferenceLauncher:
    """Starts a process of the exported image through the image's own launcher."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.user = build_user()

    def image(self) -> oci.Image:
        root = oci.ref_path(self.ws.layout, IMAGE_NAME)
        if not (root / "index.json").is_file():
            raise LaunchError(f"no image: build the app first ({root} does not exist)")
        return oci.Image.load(root)

    def materialise(self) -> oci.Image:
        """Lays the image out as a container does: its layers and app at their build-time paths."""
        image = self.image()
        for path in (self.ws.layers, self.ws.app, self.ws.image_cnb):
            remove(path)
        image.extract(Path("/"), under=self.ws.root)
        self.ws.image_cnb.mkdir(parents=True)
        image.extract(self.ws.image_cnb, under=self.ws.image_cnb / "cnb")
        return image

    def entrypoint(self, image: oci.Image, process_type: str | None) -> Path:
        """`/cnb/process/<type>` as in the image: the image's launcher, named after the process.

        No type: the image's entrypoint (the default process), or the bare launcher without one.
        """
        default = Path(image.entrypoint[0]).name if image.entrypoint else "launcher"
        link = self.ws.root / "entrypoints" / (process_type or default)
        link.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(link):
            link.unlink()
        link.symlink_to(self.ws.image_cnb / "cnb" / "lifecycle" / "launcher")
        return link

    def environment(self, image: oci.Image, runtime_env: Mapping[str, str]) -> dict[str, str]:
        """The image config's env, then what `docker run -e` adds."""
        return {**image.env, **runtime_env}

    def popen(
        self, process_type: str | None, runtime_env: Mapping[str, str], args: list[str] | None = None, **kwargs: object
    ) -> subprocess.Popen[bytes]:
        image = self.materialise()
        drop = self.user.drops_privileges
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            [str(self.entrypoint(image, process_type)), *(args or [])],
            env=self.environment(image, runtime_env),
            cwd=self.ws.app,
            user=self.user.uid if drop else None,
            group=self.user.gid if drop else None,
            extra_groups=[] if drop else None,
            **kwargs,
        )

    def run(self, argv: list[str], runtime_env: Mapping[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A one-off command in the launch environment (`docker run --entrypoint launcher <image> <command>`)."""
        image = self.materialise()
        drop = self.user.drops_privileges
        return subprocess.run(
            [str(self.entrypoint(image, "launcher")), "--", *argv], env=self.environment(image, runtime_env or {}),
            cwd=self.ws.app, capture_output=True, text=True, timeout=timeout, check=False,
            user=self.user.uid if drop else None, group=self.user.gid if drop else None,
            extra_groups=[] if drop else None,
        )
