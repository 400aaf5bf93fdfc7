"""The `venv` layer: the app's dependencies in a virtual environment (build, launch, cache).

The layer is the venv itself, made with the runtime's `python3 -m venv --without-pip`: its
`bin/` is first on PATH at launch (`venv` sorts after `python`) and in later build steps,
and VIRTUAL_ENV points at it. It links to the runtime layer only, never to a build-only one.

Reused as is while the Python version, stack, package manager and version, and the digests
of the dependency files are unchanged. When only the dependency files changed, a package
manager that can make the venv exactly match the new target set updates it in place (see
`dependencies.py`); any other change, or an update whose result does not verify, rebuilds it
from scratch, so that packages removed from the requirements never survive. The venv cannot be
built elsewhere and moved (scripts and pyvenv.cfg hold its absolute path), so a rebuild moves
the previous one aside, and an update first copies it aside; either puts it back, with its
metadata, if the install fails: the next build can still reuse it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import Field

from ..cnb.layers import Decision, Layer, LayerMetadata
from ..cnb.models import LayerTypes
from ..errors import BuildError
from ..package_managers.base import Runtime, run

LAYER_NAME = "venv"
TYPES = LayerTypes(build=True, launch=True, cache=True)
# Where a previous venv waits while its replacement is installed. No `.toml`, so a lifecycle
# ignores it; a leftover from an interrupted build is removed by the next one.
PREVIOUS = ".venv-previous"


class VenvMetadata(LayerMetadata):
    python_version: str = Field(title="the Python version")
    stack: str = Field(title="the stack")
    arch: str = Field(title="the architecture")
    package_manager: str = Field(title="the package manager")
    package_manager_version: str = Field(title="the package manager version")
    # Editable installs point into the app dir (constant on a platform: /workspace).
    app_dir: str = Field(title="the app directory")
    # Dependency files (relative path → sha256): requirements, locks, local packages.
    inputs: dict[str, str] = Field(title="the dependency files", json_schema_extra={"opaque": True})
    # BP_PYTHON_INSTALL_DEV_DEPENDENCIES; the default keeps venvs of older builds reusable.
    dev_dependencies: bool = Field(default=False, title="BP_PYTHON_INSTALL_DEV_DEPENDENCIES")

    def changes_from(self, old: LayerMetadata) -> list[str]:
        if not isinstance(old, VenvMetadata):
            return super().changes_from(old)
        reasons = super(VenvMetadata, self.model_copy(update={"inputs": old.inputs})).changes_from(old)
        if self.package_manager != old.package_manager:
            return reasons  # every file differs: the manager change says it all
        for name in sorted(self.inputs.keys() | old.inputs.keys()):
            if name not in old.inputs:
                reasons.append(f"{name} was added")
            elif name not in self.inputs:
                reasons.append(f"{name} was removed")
            elif self.inputs[name] != old.inputs[name]:
                reasons.append(f"{name} changed")
        return reasons


class VenvLayer:
    def __init__(self, layers_dir: Path) -> None:
        self.layer = Layer(layers_dir, LAYER_NAME)
        self.previous = layers_dir / PREVIOUS

    @property
    def path(self) -> Path:
        return self.layer.path

    def decide(self, expected: VenvMetadata) -> Decision:
        _remove(self.previous)
        decision = self.layer.decide(expected)
        if decision.keep and not (self.path / "bin" / "python").exists():
            return Decision(False, ["its files are incomplete"], had_previous=True)
        return decision

    def can_update(self, decision: Decision, expected: VenvMetadata) -> bool:
        """Whether only the dependency files changed: the previous venv is then a fine start."""
        previous = decision.previous
        return (
            isinstance(previous, VenvMetadata)
            and previous.model_copy(update={"inputs": expected.inputs}) == expected
            and (self.path / "bin" / "python").exists()
        )

    def update(self, expected: VenvMetadata, update: Callable[[Path], bool]) -> bool:
        """Updates the venv in place with `update`, which says whether the result verified.

        A copy of the previous venv waits aside: it is put back, with its metadata, when
        `update` fails (the error goes on) or returns False (the caller then rebuilds).
        """
        old_toml = self.layer.toml_path.read_bytes()
        _remove(self.previous)
        # Hard links: pip never rewrites an installed file in place (uninstalled files are moved
        # away, a file is unlinked before it is written, metadata and byte-code are written to a
        # temporary file and renamed), so the copy stays intact without copying any data.
        shutil.copytree(self.path, self.previous, symlinks=True, copy_function=os.link)
        self.layer.toml_path.unlink()
        try:
            verified = update(self.path)
        except BaseException:
            self._put_back(old_toml)
            raise
        if not verified:
            self._put_back(old_toml)
            return False
        _remove(self.previous)
        self.keep(expected)
        return True

    def _put_back(self, old_toml: bytes) -> None:
        _remove(self.path)
        self.previous.rename(self.path)
        self.layer.toml_path.write_bytes(old_toml)

    def keep(self, expected: VenvMetadata) -> None:
        self.layer.write(TYPES, expected)
        self._write_env()

    def rebuild(
        self, expected: VenvMetadata, runtime: Runtime, env: Mapping[str, str], install: Callable[[Path], None]
    ) -> None:
        """A fresh venv filled by `install`; on failure the previous layer is put back."""
        old_toml = self.layer.toml_path.read_bytes() if self.layer.toml_path.is_file() else None
        had_dir = self.path.is_dir()
        if had_dir:
            self.path.rename(self.previous)
        else:
            _remove(self.path)
        self.layer.toml_path.unlink(missing_ok=True)
        try:
            self._create(runtime, env)
            install(self.path)
        except BaseException:
            _remove(self.path)
            if had_dir:
                self.previous.rename(self.path)
            if old_toml is not None:
                self.layer.toml_path.write_bytes(old_toml)
            raise
        _remove(self.previous)
        self.keep(expected)

    def _create(self, runtime: Runtime, env: Mapping[str, str]) -> None:
        # Symlinks to the runtime's python: the runtime layer is at the same path at launch.
        cmd: list[str | Path] = [runtime.python, "-m", "venv", "--without-pip", self.path]
        result = run(cmd, env, self.path.parent, echo=False)
        if result.returncode != 0:
            raise BuildError(
                f"Could not create a virtual environment with Python {runtime.version}",
                f"`python3 -m venv` failed with exit status {result.returncode}. The Python runtime "
                "may be damaged: clear the app's build cache and build again.",
                output=result.tail(),
            )

    def _write_env(self) -> None:
        # Later build steps and the launched app: the venv's bin/ is added to PATH by the
        # lifecycle; VIRTUAL_ENV tells tools (and apps) which environment is active.
        # Restored files may be hard links into the cache: replace, never rewrite in place.
        current = self.path / "env" / "VIRTUAL_ENV.override"
        if not (current.is_file() and current.read_text(encoding="utf-8") == str(self.path)):
            current.unlink(missing_ok=True)
            self.layer.env.override("VIRTUAL_ENV", str(self.path))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
