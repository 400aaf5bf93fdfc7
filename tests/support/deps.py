"""Dependency installs without the rest of the build: `dependencies.install` called directly.

The runtime stand-in is the prefix of the interpreter running the tests (a pyenv install: its
site-packages holds many packages, which an isolated venv must not see). The environment is
what the local lifecycle gives a build: its host allow-list, plus the runtime's bin on PATH.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from support.builds import APPS, ARCH

from python_buildpack import dependencies
from python_buildpack.caching.plan import CachePlan
from python_buildpack.errors import BuildError
from python_buildpack.layers.python import Runtime
from python_buildpack.process import Runner
from python_buildpack.process import run as real_run
from python_buildpack.project import with_runtime
from python_buildpack.stacks.identify import Stack
from python_buildpack.step_context import Context
from python_buildpack_dev.emulated.builder import HOST_ENV_ALLOWLIST
from python_buildpack_dev.platform.build_image import host_trust_env

PYTHON_HOME = Path(sys.base_prefix)
PYTHON_VERSION = platform.python_version()
PYTHON_MAJOR = PYTHON_VERSION.rsplit(".", 1)[0]
STACK = Stack(name="scalingo-22", ubuntu_version="22.04", arch=ARCH, source="test")


def build_env(python_home: Path = PYTHON_HOME) -> dict[str, str]:
    # what the lifecycle passes, plus this machine's CA settings as platform env (a TLS proxy)
    env = {k: os.environ[k] for k in HOST_ENV_ALLOWLIST if k in os.environ} | host_trust_env()
    env["PATH"] = f"{python_home / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env


def layer_context(layers_dir: Path, settings: dict[str, str] | None = None, runner: Runner = real_run) -> Context:
    """A build context for layer tests: the layers dir, the app dir beside it."""
    return Context(layers_dir.parent / "app", layers_dir, APPS.parents[2], settings or {}, runner)


@dataclass
class Outcome:
    log: str
    venv: Path | None = None
    error: BuildError | None = None

    def ok(self) -> Path:
        assert self.error is None, f"{self.error.title}\n{self.error.details}\n{self.error.output}\n{self.log}"
        assert self.venv is not None
        return self.venv


@dataclass
class DepsApp:
    """One app's successive dependency installs into one layers dir, like redeploys."""

    app_dir: Path
    layers_dir: Path
    settings: dict[str, str] = field(default_factory=dict)
    python_home: Path = PYTHON_HOME
    python_version: str = PYTHON_VERSION

    def install(self, runner: Runner = real_run, plan: CachePlan | None = None, **extra_settings: str) -> Outcome:
        env = build_env(self.python_home)
        # User settings (platform env files) over the process environment, as from_env does.
        settings = env | self.settings | extra_settings
        ctx = Context(self.app_dir, self.layers_dir, APPS.parents[2], settings, runner)
        stream = io.StringIO()
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            try:
                project = with_runtime(ctx, STACK, self.python_version)
                runtime = Runtime(self.python_home, self.python_version, STACK)
                venv = dependencies.install(ctx, env | extra_settings, project, runtime, plan or CachePlan())
            except BuildError as error:
                return Outcome(stream.getvalue(), error=error)
        return Outcome(stream.getvalue(), venv=venv.path)

    def write(self, name: str, content: str) -> None:
        (self.app_dir / name).write_text(content, encoding="utf-8")

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.app_dir / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new), encoding="utf-8")


def copy_app(name: str, destination: Path) -> Path:
    shutil.copytree(APPS / name, destination, symlinks=True)
    return destination


def venv_python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Runs code with the venv's python in a clean environment (no PYTHONPATH, cwd outside the app)."""
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin", "VIRTUAL_ENV": str(venv)}
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], env=env, cwd=venv, capture_output=True, text=True, timeout=120
    )


def run_script(venv: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin", "VIRTUAL_ENV": str(venv)}
    return subprocess.run(
        [str(venv / "bin" / name), *args], env=env, cwd=venv, capture_output=True, text=True, timeout=120
    )


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{PYTHON_MAJOR}" / "site-packages"


def distributions(venv: Path) -> set[str]:
    """Names of the distributions installed in the venv (from their .dist-info directories)."""
    return {p.name.split("-")[0].lower().replace("_", "-") for p in site_packages(venv).glob("*.dist-info")}


def snapshot(root: Path) -> dict[str, str]:
    """Every file's content digest and every symlink's target: what an image layer's digest covers."""
    result: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                result[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                mode = "x" if os.access(path, os.X_OK) else "-"
                result[rel] = mode + hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def pyc_flags(pyc: Path) -> int:
    """The flags word of a .pyc header: 0 timestamp-based, 1 unchecked-hash, 3 checked-hash."""
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def make_git_package(directory: Path, name: str = "gitpkg", value: int = 42) -> str:
    """A local git repository holding a one-module package, tagged v1; returns its requirement."""
    (directory / name).mkdir(parents=True)
    (directory / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "1.0.0"\n',
        encoding="utf-8",
    )
    (directory / name / "__init__.py").write_text(f"VALUE = {value}\n", encoding="utf-8")
    git = ["git", "-c", "user.email=tests@example.com", "-c", "user.name=tests", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "v1"], ["tag", "v1"]):
        subprocess.run([*git, *args], cwd=directory, check=True, capture_output=True)
    return f"{name} @ git+file://{directory}@v1"
