"""Generates the large sample app: one production stack, pinned once, in four package managers' files.

    .venv/bin/python benchmarks/large_app.py          # rewrites benchmarks/apps/large-*

The top-level packages below are resolved once (the pinned uv, for the benchmark runtime's
Python minor) into exact pins; every variant declares all of those pins, so pip, pipenv,
poetry and uv install the same versions:

- `large-pip`: requirements.txt;
- `large-pipenv`: Pipfile + Pipfile.lock (`pipenv lock`);
- `large-poetry`: pyproject.toml + poetry.lock (`poetry lock`);
- `large-uv`: pyproject.toml + uv.lock (`uv lock`);
- `large-pip-bumps.txt`: twenty one-pin changes for the many-deploys benchmark (scale.py),
  applied in order, each the newest older release of the same major version that still
  resolves to the same set of packages.

The tools are the buildpack's pinned versions, installed into a temporary venv. Re-run it to
move the app to newer releases; the benchmark reads the files, never the index's latest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from python_buildpack.tool_versions import TOOL_VERSIONS

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
BUMPS = APPS / "large-pip-bumps.txt"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"  # the runtime the benchmarks serve

# A Django + DRF + Celery service with the usual data, storage and monitoring libraries.
TOP_LEVEL = (
    "Django", "djangorestframework", "celery", "redis", "boto3", "psycopg[binary]", "sentry-sdk",
    "pandas", "numpy", "pillow", "cryptography", "pydantic", "gunicorn", "whitenoise",
    "django-environ", "django-cors-headers", "django-filter", "django-storages", "django-redis",
    "django-celery-beat", "django-extensions", "drf-spectacular", "requests", "httpx", "PyJWT",
    "stripe", "openpyxl", "structlog", "orjson", "Markdown", "Jinja2", "lxml", "beautifulsoup4",
    "tenacity", "python-dotenv", "uvicorn[standard]", "channels", "google-auth", "python-slugify",
    "Babel", "psutil",
)  # fmt: skip
# Candidates for the one-pin changes, big wheels first (they decide the caches' growth).
BUMP_CANDIDATES = (
    "numpy", "pandas", "boto3", "botocore", "pillow", "cryptography", "lxml", "babel", "django",
    "sentry-sdk", "pydantic", "celery", "kombu", "redis", "orjson", "stripe", "s3transfer", "certifi",
    "urllib3", "requests", "httpx", "djangorestframework", "gunicorn", "rpds-py", "uvloop",
    "watchfiles", "websockets", "structlog", "markdown", "psutil", "tzdata", "attrs",
)  # fmt: skip
BUMP_COUNT = 20

APP_PY = '''"""The large sample app: a WSGI app whose dependencies are the point, not its code."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"large app\\n"]
'''
PROCFILE = "web: gunicorn app:app --bind 0.0.0.0:$PORT\n"


def run(argv: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def tools(work: Path, env: dict[str, str]) -> Path:
    """A venv with the pinned pip, pipenv, poetry and uv."""
    venv = work / "tools"
    run([sys.executable, "-m", "venv", venv], work, env)
    pins = [f"{name}=={TOOL_VERSIONS[name]}" for name in ("pip", "pipenv", "poetry", "uv")]
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", *pins], work, env)
    return venv / "bin"


def compile_pins(bin_dir: Path, requirements: list[str], work: Path, env: dict[str, str]) -> list[str] | None:
    """Exact pins for `requirements` (None when they do not resolve)."""
    source = work / "in.txt"
    source.write_text("\n".join(requirements) + "\n")
    argv = [bin_dir / "uv", "pip", "compile", source, "--python-version", PYTHON, "--no-header",
            "--no-annotate", "--quiet"]  # fmt: skip
    done = subprocess.run([str(a) for a in argv], cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return [line for line in done.stdout.splitlines() if line and not line.startswith("#")]


def name_of(pin: str) -> str:
    return pin.split("==")[0]


def bumps(bin_dir: Path, pins: list[str], work: Path, env: dict[str, str]) -> list[str]:
    """One-pin changes applied in order: each pin goes to the newest older release of the same
    major version that keeps every other pin (and the set of packages) as it is."""
    current = {name_of(pin): pin for pin in pins}
    chosen: list[str] = []
    for name in BUMP_CANDIDATES:
        if name not in current or len(chosen) == BUMP_COUNT:
            continue
        version = current[name].split("==")[1]
        older = f"{name}<{version},>={version.split('.')[0]}"  # within the same major version
        resolved = compile_pins(bin_dir, [*(p for n, p in current.items() if n != name), older], work, env)
        if resolved is None or sorted(map(name_of, resolved)) != sorted(current):
            continue
        new = next(pin for pin in resolved if name_of(pin) == name)
        current[name] = new
        chosen.append(new)
    return chosen


def write_app(name: str, files: dict[str, str]) -> Path:
    app = APPS / name
    shutil.rmtree(app, ignore_errors=True)
    app.mkdir(parents=True)
    for rel, text in {"app.py": APP_PY, "Procfile": PROCFILE, **files}.items():
        (app / rel).write_text(text)
    return app


def pyproject(pins: list[str]) -> str:
    lines = "".join(f'    "{pin}",\n' for pin in pins)
    # An app, not a package: poetry must not try to install the project itself.
    return (f'[project]\nname = "large-app"\nversion = "1.0.0"\nrequires-python = ">={PYTHON},<4"\n'
            f"dependencies = [\n{lines}]\n\n[tool.poetry]\npackage-mode = false\n")  # fmt: skip


def pipfile(pins: list[str]) -> str:
    packages = "".join(f'{name_of(pin)} = "=={pin.split("==")[1]}"\n' for pin in pins)
    return (f'[[source]]\nurl = "https://pypi.org/simple"\nverify_ssl = true\nname = "pypi"\n\n'
            f'[packages]\n{packages}\n[requires]\npython_version = "{PYTHON}"\n')  # fmt: skip


def main() -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_FIND_LINKS", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    with tempfile.TemporaryDirectory(prefix="large-app-") as tmp:
        work = Path(tmp)
        bin_dir = tools(work, env)
        pins = compile_pins(bin_dir, list(TOP_LEVEL), work, env)
        if pins is None:
            raise SystemExit("the top-level packages do not resolve")
        print(f"{len(pins)} pins", file=sys.stderr)
        write_app("large-pip", {"requirements.txt": "\n".join(pins) + "\n"})
        BUMPS.write_text("\n".join(bumps(bin_dir, pins, work, env)) + "\n")
        uv_app = write_app("large-uv", {"pyproject.toml": pyproject(pins)})
        run([bin_dir / "uv", "lock", "--quiet"], uv_app, env)
        poetry_app = write_app("large-poetry", {"pyproject.toml": pyproject(pins)})
        run([bin_dir / "poetry", "lock", "--no-interaction"], poetry_app, env | {"POETRY_CACHE_DIR": str(work / "pc")})
        pipenv_app = write_app("large-pipenv", {"Pipfile": pipfile(pins)})
        pipenv_env = env | {"PIPENV_CACHE_DIR": str(work / "pec"), "PIPENV_VENV_IN_PROJECT": "0",
                            "WORKON_HOME": str(work / "venvs"), "PIPENV_YES": "1", "PIPENV_NOSPIN": "1"}  # fmt: skip
        run([bin_dir / "pipenv", "lock"], pipenv_app, pipenv_env)
        for leftover in (".venv", "poetry.toml"):
            shutil.rmtree(pipenv_app / leftover, ignore_errors=True)
    print(f"bumps: {', '.join(BUMPS.read_text().split())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
