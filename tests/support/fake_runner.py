"""A recording stand-in for `process.run`: no program runs, the files a program would leave
behind appear, and every command is recorded in a short form for the orchestration tests.

    runner = FakeRunner(failing={"sync": ["poetry.lock ... changed significantly since poetry.lock was last generated"]})
    ctx = layer_context(layers, runner=runner)
    ... dependencies.install(ctx, ...)
    assert runner.commands == ["pip download pip", "compile", "venv venv", "pip install -r requirements.txt", "compile", ...]
"""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from python_buildpack.files import bytecode
from python_buildpack.process import Completed, Echo

PIP_MAIN = "import sys\nsys.exit(0)\n"


def _never(_: str) -> bool:
    return False


def _is_pip_zipapp(arg: str) -> bool:
    return Path(arg).name.startswith("pip-") and arg.endswith(".pyz")


@dataclass
class FakeRunner:
    # A command whose short form contains a key fails with these output lines (`failing_status`).
    failing: Mapping[str, list[str]] = field(default_factory=dict)
    failing_status: int = 1
    # A command whose short form contains a key succeeds with these output lines.
    outputs: Mapping[str, list[str]] = field(default_factory=dict)
    # Distributions "installed" into the venv by an install command: name → version (a `sync`
    # leaves only these; `name==version` arguments are installed too).
    installs: Mapping[str, str] = field(default_factory=lambda: {"flask": "3.1.3"})
    # What `uv pip compile` and `uv export` write as the target set (default: `installs`).
    resolved: Mapping[str, str] | None = None
    commands: list[str] = field(default_factory=list)
    environments: list[dict[str, str]] = field(default_factory=list)

    def __call__(
        self,
        cmd: Sequence[str | Path],
        env: Mapping[str, str],
        cwd: Path,
        *,
        echo: Echo | None = None,
        hide: Callable[[str], bool] = _never,
    ) -> Completed:
        args = [str(part) for part in cmd]
        short = self._short(args)
        self.commands.append(short)
        self.environments.append(dict(env))
        for key, lines in self.failing.items():
            if key in short:
                for line in lines:
                    if echo is not None and not hide(line):
                        echo(line)
                return Completed(self.failing_status, list(lines))
        self._effects(args, env)
        lines = next((list(lines) for key, lines in self.outputs.items() if key in short), [])
        for line in lines:
            if echo is not None and not hide(line):
                echo(line)
        return Completed(0, lines)

    @staticmethod
    def _short(args: list[str]) -> str:
        """`venv <dir name>`, `pip download pip`, `pip install -r requirements.txt`, `poetry sync`, ..."""
        if "venv" in args and "-m" in args:
            return f"venv {Path(args[-1]).name}"
        if str(bytecode.SCRIPT) in args:
            return "compile"
        names = ["pip" if _is_pip_zipapp(a) else Path(a).name for a in args]
        tool = next((name for name in names if name in ("pip", "pipenv", "poetry", "uv")), names[0])
        words = [a for a in args[names.index(tool) + 1 :] if not a.startswith("-")]
        verb = words[0] if words else ""
        if tool == "uv" and verb == "pip" and len(words) > 1:  # `uv pip install`, `uv pip compile`, ...
            verb = f"pip {words[1]}"
        if verb == "download" or (verb == "install" and "--no-index" in args):
            return f"{tool} {verb} pip"
        pinned_tool = next((a.split("==")[0] for a in args if a.split("==")[0] in ("pipenv", "poetry", "uv") and "==" in a), "")
        if pinned_tool:
            return f"{tool} {verb} {pinned_tool}"
        if "-r" in args:
            constrained = " --constraints" if "--constraints" in args else ""
            return f"{tool} {verb} -r " + " -r ".join(args[i + 1] for i, a in enumerate(args) if a == "-r") + constrained
        return f"{tool} {verb}".strip()

    def _effects(self, args: list[str], env: Mapping[str, str]) -> None:
        if "venv" in args and "-m" in args:
            prefix = Path(args[-1])
            (prefix / "bin").mkdir(parents=True, exist_ok=True)
            (prefix / "bin" / "python").write_text("#!/bin/sh\n")
            (prefix / "bin" / "python").chmod(0o755)
            (prefix / "lib" / "python3.12" / "site-packages").mkdir(parents=True, exist_ok=True)
            (prefix / "pyvenv.cfg").write_text(f"home = {Path(args[0]).parent}\n")
            for tool in ("pipenv", "poetry", "uv"):
                if prefix.parent.name == tool:  # a tool layer's venv: the tool's entry point
                    (prefix / "bin" / tool).write_text("#!/bin/sh\n")
        elif "download" in args and "--dest" in args:
            dest = Path(args[args.index("--dest") + 1])
            version = next(a for a in args if a.startswith("pip==")).split("==")[1]
            dest.mkdir(parents=True, exist_ok=True)
            raw = io.BytesIO()
            with zipfile.ZipFile(raw, "w") as wheel:
                wheel.writestr("pip/__main__.py", PIP_MAIN)
                wheel.writestr(f"pip-{version}.dist-info/METADATA", f"Name: pip\nVersion: {version}\n")
            (dest / f"pip-{version}-py3-none-any.whl").write_bytes(raw.getvalue())
        elif "--output-file" in args and ("compile" in args or "export" in args):
            resolved = self.installs if self.resolved is None else self.resolved
            target = Path(args[args.index("--output-file") + 1])
            target.write_text("".join(f"{name}=={version}\n" for name, version in resolved.items()))
        elif env.get("VIRTUAL_ENV") and "uninstall" in args:
            names = [a for a in args[args.index("uninstall") + 1 :] if not a.startswith("-") and "/" not in a]
            for dist in self._site(env).glob("*.dist-info"):
                if dist.name.removesuffix(".dist-info").rsplit("-", 1)[0] in names:
                    shutil.rmtree(dist)
        elif env.get("VIRTUAL_ENV") and any(verb in args for verb in ("install", "sync")):
            site = self._site(env)
            pinned = dict(a.split("==") for a in args if "==" in a and "/" not in a)
            installs = {**self.installs, **pinned}
            for dist in site.glob("*.dist-info") if site.is_dir() else []:
                name = dist.name.removesuffix(".dist-info").rsplit("-", 1)[0]
                if (name in installs and dist.name != f"{name}-{installs[name]}.dist-info") or (
                    "sync" in args and name not in installs
                ):
                    shutil.rmtree(dist)  # another version, or what a sync does not keep
            for name, version in installs.items():
                dist = site / f"{name}-{version}.dist-info"
                dist.mkdir(parents=True, exist_ok=True)
                (dist / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")

    @staticmethod
    def _site(env: Mapping[str, str]) -> Path:
        return Path(env["VIRTUAL_ENV"]) / "lib" / "python3.12" / "site-packages"
