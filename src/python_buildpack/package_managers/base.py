"""What every package manager shares: the runtime it installs for, running an installer with
its output streamed into the build log, the installer environment, and failure explanations.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .. import output
from ..errors import BuildError
from ..layers.python import PythonRuntime
from ..stack import Stack
from .hints import hint_for
from .versions import TOOL_VERSIONS, Tool

# Lines of a failed tool's output kept for its error when the output was not streamed.
TAIL_LINES = 25

# User settings for the installers pass through (private indexes, timeouts, ...).
SETTING_PREFIXES = ("PIP_", "PIPENV_", "POETRY_", "UV_")

# A fixed SOURCE_DATE_EPOCH makes pip, uv and poetry write checked-hash .pyc files (the
# exported layer's mtimes are normalised, so timestamp-based ones would always be stale) and
# makes wheels built from sdists reproducible. 1980-01-01, the oldest date a zip can hold.
SOURCE_DATE_EPOCH = "315532800"


@dataclass(frozen=True)
class Runtime(PythonRuntime):
    """The Python the venv and the tools are made from, and what their caches are keyed by."""

    stack: Stack


@dataclass(frozen=True)
class ToolInstall:
    """A pinned tool in its build-only layer.

    pip is kept as its wheel (`wheels/pip-*.whl`, what pip apps' venvs get pip from without a
    download) and unpacked with its byte-code (`lib/pip`), which any interpreter of the same
    Python version runs as is (`python <layer>/lib/pip ...`): it installs the other tools and
    pip apps' requirements. The other tools live in a small venv (`venv/`) made from the runtime.
    """

    name: Tool
    version: str
    layer: Path

    @property
    def home(self) -> Path:
        return self.layer / "venv"

    @property
    def wheels(self) -> Path:
        return self.layer / "wheels"

    @property
    def pip_wheel(self) -> Path:
        return self.wheels / f"pip-{self.version}-py3-none-any.whl"

    @property
    def pip_main(self) -> Path:
        """What `python <pip_main> install ...` runs: the unpacked pip package."""
        return self.layer / "lib" / "pip"

    def executable(self, name: str | None = None) -> Path:
        return self.home / "bin" / (name or self.name)

    def complete(self) -> bool:
        if self.name == "pip":
            return self.pip_wheel.is_file() and (self.pip_main / "__main__.py").is_file()
        return self.executable().exists()


def user_settings(settings: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in settings.items() if k.startswith(SETTING_PREFIXES)}


def installer_env(env: Mapping[str, str], settings: Mapping[str, str]) -> dict[str, str]:
    """The base environment of every installer run: the build env plus the user's settings."""
    result = dict(env)
    # The buildpack's own import path must not leak into the tools' interpreters.
    for name in ("PYTHONPATH", "PYTHONHOME"):
        result.pop(name, None)
    result.update(user_settings(settings))
    result.setdefault("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
    result.setdefault("NO_COLOR", "1")
    result.setdefault("PYTHONUTF8", "1")
    # These would send pip's installs somewhere else than the venv.
    for name in ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "PIP_PYTHON"):
        result.pop(name, None)
    return result


def prepend_path(env: dict[str, str], directory: Path) -> None:
    current = env.get("PATH", "")
    env["PATH"] = f"{directory}{os.pathsep}{current}" if current else str(directory)


@dataclass
class Completed:
    returncode: int
    lines: list[str]

    def tail(self, keep: Callable[[str], bool] = lambda _: True) -> str:
        kept = [line for line in self.lines if line.strip() and keep(line)]
        return "\n".join(kept[-TAIL_LINES:])

    def matches(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, "\n".join(self.lines), re.IGNORECASE | re.MULTILINE)


def run(
    cmd: Sequence[str | Path],
    env: Mapping[str, str],
    cwd: Path,
    *,
    echo: bool = True,
    hide: Callable[[str], bool] = lambda _: False,
) -> Completed:
    """Runs an installer; its output (stdout and stderr) goes to the log as it comes."""
    args = [str(part) for part in cmd]
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as error:
        raise BuildError(
            f"Could not run {Path(args[0]).name}",
            f"Starting `{' '.join(args[:3])} ...` failed: {error.strerror or error}. The cached "
            "tool layer may be damaged: clear the app's build cache and build again.",
        ) from error
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for raw_line in proc.stdout:
            line = raw_line.rstrip("\n")
            lines.append(line)
            if echo and not hide(line):
                output.detail(line)
    except BaseException:
        # An interrupted build (SIGTERM, Ctrl-C) must not leave the installer writing into
        # the layer that the clean-up is about to remove or put back.
        proc.kill()
        proc.wait()
        raise
    return Completed(proc.wait(), lines)


class Installer(ABC):
    """How one package manager installs an app's dependencies into a venv."""

    name: ClassVar[Tool]
    # The tool's download cache setting; a user value passes through instead of our layer.
    cache_env_var: ClassVar[str]
    # The lock file and the command that regenerates it, for "out of sync" errors.
    project_file: ClassVar[str] = ""
    lock_file: ClassVar[str] = ""
    lock_command: ClassVar[str] = ""
    # Output patterns that mean the lock file does not match the project file.
    out_of_sync: ClassVar[tuple[str, ...]] = ()
    # Also the development dependencies (BP_PYTHON_INSTALL_DEV_DEPENDENCIES, for CI builds).
    dev: bool = False

    def for_development(self, app_dir: Path) -> Installer:
        """A copy of this installer that also installs the app's development dependencies."""
        development = copy.copy(self)
        development.dev = True
        return development

    @property
    def version(self) -> str:
        return TOOL_VERSIONS[self.name]

    @abstractmethod
    def inputs(self, app_dir: Path) -> dict[str, str]:
        """What the venv's contents depend on: a label (a path) → its digest."""

    @abstractmethod
    def commands(self, tool: ToolInstall, venv: Path) -> list[list[str | Path]]:
        """The install commands, run in order from the app dir."""

    def environment(self, env: Mapping[str, str], venv: Path, app_dir: Path) -> dict[str, str]:
        """The installer's environment; `env` has the user settings and the cache dir."""
        result = dict(env)
        result["VIRTUAL_ENV"] = str(venv)
        prepend_path(result, venv / "bin")
        return result

    def hide_line(self, line: str) -> bool:
        """Output lines not worth showing (tracebacks a tool prints around its own errors)."""
        return False

    def failure(
        self, result: Completed, files: Iterable[str], version: str, advice: Callable[[str], str]
    ) -> BuildError:
        """The error of a failed install, after its output streamed into the log (not repeated).

        `version` is the build's Python; `advice` says how to request another one, given what
        the project accepts (python_version.change_advice).
        """
        return BuildError(*self.explain(result, ", ".join(files), version, advice))

    def explain(self, result: Completed, files: str, version: str, advice: Callable[[str], str]) -> tuple[str, str]:
        """The error title and paragraph for a failed install; specific causes first."""
        for pattern in self.out_of_sync:
            if result.matches(pattern):
                lock = self.lock_file
                return (
                    f"{lock} is out of date",
                    f"{lock} does not match the dependencies declared in {self.project_file}, so "
                    f"{self.name} refused to install from it (see its output above). Run "
                    f"`{self.lock_command}` where you develop the app, commit the updated {lock} "
                    "and deploy again.",
                )
        host = unreachable_git_host(result)
        if host:
            return (
                f"{self.name} could not reach {host}",
                f"{self.name} could not fetch a git dependency from {host}: the host name could not be "
                f"resolved or the host did not answer (see the output above). Check the repository URL "
                f"in {files}, and that {host} is reachable from the platform (a private git server must "
                "accept connections from the build). If it is, this is usually temporary: build again.",
            )
        hint = hint_for("\n".join(result.lines))
        if hint:
            return hint.title, hint.explanation
        if result.matches(NETWORK_ERRORS):
            return (
                f"{self.name} could not reach the package index",
                f"{self.name} failed while downloading packages: the index or a download host "
                "could not be reached (see the output above). This is usually temporary: build "
                f"again. If the app uses a private index, check its URL and credentials in the "
                f"app's environment ({self.index_settings()}) and that the platform can reach it.",
            )
        python_problem = self.python_mismatch(result, version, advice)
        if python_problem:
            return python_problem
        return self.generic_failure(result, files)

    def python_mismatch(self, result: Completed, version: str, advice: Callable[[str], str]) -> tuple[str, str] | None:
        """The error when the tool refused the build's Python version, naming where it came from."""
        return None

    def generic_failure(self, result: Completed, files: str) -> tuple[str, str]:
        return (
            f"{self.name} could not install the dependencies from {files}",
            f"{self.name} {self.version} exited with status {result.returncode}; its output above "
            "says which package failed and why. Check the package names and versions, try the same "
            f"install locally with Python of the same version, fix {files} and deploy again.",
        )

    def index_settings(self) -> str:
        return "PIP_INDEX_URL, PIP_EXTRA_INDEX_URL"


NETWORK_ERRORS = "|".join(
    (
        r"Failed to establish a new connection",
        r"Max retries exceeded",
        r"Temporary failure in name resolution",
        r"Name or service not known",
        r"Connection refused",
        r"Network is unreachable",
        r"ConnectTimeout|ReadTimeout|timed out",
        r"Could not fetch URL",
        r"error sending request",
        r"dns error",
        r"Connection reset",
        r"All attempts to connect to \S+ failed",  # poetry
    )
)


# Network failures of git (and curl, which git uses), ssh and dulwich (poetry's git client),
# each naming the host.
_UNREACHABLE = (
    r"Could not resolve host: ([\w.-]+)",
    r"Could not resolve hostname ([\w.-]+)",
    r"Failed to connect to ([\w.-]+) port",
    r"connect to host ([\w.-]+) port \d+: (?:Connection|Network)",
    r"unable to access '\w+://(?:[^@/']*@)?([\w.-]+)[^']*': .*(?:timed out|Connection reset|Couldn't connect)",
    r"ConnectionPool\(host='([\w.-]+)', port=\d+\): Max retries exceeded",
)
# Output that says a git dependency was being fetched: pip's and uv's git commands, uv's and
# dulwich's errors.
_GIT_FETCH = r"\bgit (?:clone|fetch)\b|Git operation failed|GitProtocolError|git-upload-pack|fatal: unable to access"


def unreachable_git_host(result: Completed) -> str | None:
    """The host of a git dependency that could not be reached, if that is why the install failed."""
    if not result.matches(_GIT_FETCH):
        return None
    for pattern in _UNREACHABLE:
        found = result.matches(pattern)
        if found:
            return found.group(1)
    return None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


# Never part of what a local package's build depends on.
_TREE_SKIP = {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".mypy_cache", ".pytest_cache"}


def tree_digest(root: Path) -> str:
    """Digest of a directory's files (paths, modes and contents), for local path requirements."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _TREE_SKIP and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                digest.update(f"L {rel} {os.readlink(path)}\n".encode())
            elif path.is_file():
                digest.update(f"F {rel} {os.access(path, os.X_OK)} {file_digest(path)}\n".encode())
    return digest.hexdigest()


def digests(app_dir: Path, names: Iterable[str]) -> dict[str, str]:
    """Digests of the given app files that exist."""
    return {name: file_digest(app_dir / name) for name in names if (app_dir / name).is_file()}
