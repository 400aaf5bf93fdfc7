"""The launcher: the launch environment from launch layers, exec.d programs, then the process."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from python_buildpack.cnb import toml_io
from python_buildpack.cnb.env import apply_env_dir
from python_buildpack.cnb.models import LaunchToml, Process

from ..platform.oci import RUN_ENV
from ..platform.phases import LaunchError
from ..platform.workspace import LAYERS_SUBDIR, Workspace, link_tree, remove

# A run image's base environment: the reference engine's run image, plus the HOME a container gets.
BASE_ENV = RUN_ENV | {"HOME": "/root"}


@dataclass
class Launcher:
    workspace: Workspace

    def materialise(self) -> None:
        """Lays the image out at the canonical paths, as starting a container does."""
        ws = self.workspace
        if not ws.image.is_dir():
            raise LaunchError(f"no image: build the app first ({ws.image} does not exist)")
        remove(ws.layers)
        remove(ws.app)
        ws.buildpack_layers.mkdir(parents=True)
        for toml_path in sorted(ws.image_layers.glob("*.toml")):
            name = toml_path.stem
            link_tree(ws.image_layers / name, ws.buildpack_layers / name)
        link_tree(ws.image_app, ws.app)

    def launch_toml(self) -> LaunchToml:
        path = self.workspace.launch_toml
        if not path.is_file():
            return LaunchToml()
        return LaunchToml.model_validate(toml_io.load(path))

    def process(self, process_type: str | None) -> Process:
        processes = self.launch_toml().processes
        if process_type is None:
            defaults = [p for p in processes if p.default]
            if not defaults:
                raise LaunchError("the image has no default process: name one with --process")
            return defaults[0]
        for process in processes:
            if process.type == process_type:
                return process
        known = ", ".join(p.type for p in processes) or "none"
        raise LaunchError(f"no process of type {process_type!r} in the image (processes: {known})")

    def environment(self, process_type: str | None, runtime_env: Mapping[str, str]) -> dict[str, str]:
        """As the reference launcher: run-time env (like `docker run -e`), then every launch layer's
        bin/ and lib/, then every layer's env files, then exec.d output. The launcher's own
        CNB_* settings are not passed to the process."""
        env = dict(BASE_ENV)
        env.update(runtime_env)
        layers = self._layers()
        for layer in layers:
            if (layer / "bin").is_dir():
                env["PATH"] = _prepend(str(layer / "bin"), env.get("PATH", ""))
            if (layer / "lib").is_dir():
                env["LD_LIBRARY_PATH"] = _prepend(str(layer / "lib"), env.get("LD_LIBRARY_PATH", ""))
        for layer in layers:
            apply_env_dir(env, layer / "env")
            apply_env_dir(env, layer / "env.launch")
            if process_type:
                apply_env_dir(env, layer / "env.launch" / process_type)
        for layer in layers:
            for directory in [layer / "exec.d"] + ([layer / "exec.d" / process_type] if process_type else []):
                for program in sorted(p for p in directory.glob("*") if p.is_file()) if directory.is_dir() else []:
                    env.update(run_exec_d(program, env, self.workspace.app))
        return env

    def _layers(self) -> list[Path]:
        root = self.workspace.buildpack_layers
        return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    def command(self, process: Process, args: list[str] | None = None) -> list[str]:
        return [*process.command, *(args if args else process.args)]

    def popen(
        self, process_type: str | None, runtime_env: Mapping[str, str], args: list[str] | None = None, **kwargs: object
    ) -> subprocess.Popen[bytes]:
        self.materialise()
        process = self.process(process_type)
        env = self.environment(process.type, runtime_env)
        cwd = process.working_dir or str(self.workspace.app)
        return subprocess.Popen(self.command(process, args), env=env, cwd=cwd, **kwargs)  # type: ignore[call-overload,no-any-return]


def run_in_image(
    workspace: Workspace, argv: list[str], runtime_env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs a one-off command in the launch environment (`docker run <image> <command>`)."""
    launcher = Launcher(workspace)
    launcher.materialise()
    env = launcher.environment(None, runtime_env or {})
    return subprocess.run(argv, env=env, cwd=workspace.app, capture_output=True, text=True, timeout=timeout)


def run_exec_d(program: Path, env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """Runs one exec.d program directly (no shell), in the app dir, with fd 3 open for its TOML."""
    argv, environ, directory = [str(program)], dict(env), str(cwd)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: nothing but system calls until exec (the parent may have threads)
        try:
            os.close(read_fd)
            os.chdir(directory)
            os.dup2(write_fd, 3)  # dup2 clears close-on-exec
            os.execve(argv[0], argv, environ)
        finally:
            os._exit(127)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        data = reader.read()
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status != 0:
        raise LaunchError(f"exec.d program {program} exited with status {status}")
    try:
        values = toml_io.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, toml_io.TOMLDecodeError) as error:
        raise LaunchError(f"exec.d program {program} wrote invalid TOML: {error}") from error
    for key, value in values.items():
        if not isinstance(value, str):
            raise LaunchError(f"exec.d program {program} wrote a non-string value for {key}")
    return {k: str(v) for k, v in values.items()}


def _prepend(value: str, current: str) -> str:
    return f"{value}{os.pathsep}{current}" if current else value


__all__ = ["LAYERS_SUBDIR", "LaunchError", "Launcher", "run_exec_d", "run_in_image"]
