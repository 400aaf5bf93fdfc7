"""What the build says when an installer fails (issue 10), with the real pinned pip, pipenv,
poetry and uv: the installer's output once, then one box naming the cause and the fix.

The Python of these installs is the test interpreter's; the app's version files only decide
what the boxes say about where that version came from, as in a build.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.boxes import box
from support.builds import AppBuild
from support.deps import PYTHON_VERSION, DepsApp, copy_app

pytestmark = pytest.mark.e2e

V = PYTHON_VERSION  # 3.11.7 when the tests run on 3.11.7


@pytest.fixture(scope="module")
def layers_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("layers")


@pytest.fixture
def make(tmp_path: Path, layers_root: Path, shared_download_cache: dict[str, str]) -> Callable[..., DepsApp]:
    """An app from a fixture (or empty) plus files; tool layers are shared per manager."""

    def _make(fixture: str | None, manager: str, files: dict[str, str] | None = None) -> DepsApp:
        app_dir = copy_app(fixture, tmp_path / "app") if fixture else tmp_path / "app"
        app_dir.mkdir(exist_ok=True)
        for name, content in (files or {}).items():
            (app_dir / name).write_text(content, encoding="utf-8")
        layers = layers_root / manager
        layers.mkdir(exist_ok=True)
        return DepsApp(app_dir, layers, dict(shared_download_cache))

    return _make


def failure(app: DepsApp) -> tuple[str, str]:
    """The log of a failed install and its error box; the installer's output is not repeated."""
    outcome = app.install()
    assert outcome.error is not None, outcome.log
    assert outcome.error.output == ""
    assert "Traceback (most recent call last)" not in outcome.log
    return outcome.log, box(outcome.error)


def message(error_box: str) -> str:
    """A box's title and text without the wrapping, which depends on the version's length."""
    lines = [line.removeprefix("!").removeprefix(" ") for line in error_box.splitlines()]
    title = lines[0].removeprefix("Error: ")
    return title + "\n" + " ".join(line for line in lines[2:] if line)


def test_poetry_refuses_the_default_version(make: Callable[..., DepsApp]) -> None:
    app = make("poetry-basic", "poetry")
    app.edit("pyproject.toml", 'requires-python = ">=3.11"', 'requires-python = "==3.12.*"')
    log, error = failure(app)
    assert f"Current Python version ({V}) is not allowed by the project (==3.12.*)." in log
    assert message(error) == (
        f"pyproject.toml does not allow Python {V}\n"
        "The project requires Python ==3.12.* (requires-python, or python in [tool.poetry.dependencies]), so "
        f"poetry refused to install with Python {V}. The app has no Python version file, so this build uses "
        f"Python {V}, the buildpack's default. Add a .python-version file holding a version that matches "
        "==3.12.*. Or widen the requirement in pyproject.toml, run `poetry lock` and deploy again."
    )


def test_poetry_refuses_the_version_of_python_version(make: Callable[..., DepsApp]) -> None:
    pyproject = (
        '[tool.poetry]\nname = "classic"\nversion = "0.1.0"\ndescription = ""\nauthors = ["Dev <dev@example.com>"]\n'
        'package-mode = false\n\n[tool.poetry.dependencies]\npython = "^3.14"\n'
    )
    app = make("poetry-basic", "poetry", {"pyproject.toml": pyproject, ".python-version": "3.11\n"})
    log, error = failure(app)
    assert f"Current Python version ({V}) is not allowed by the project (^3.14)." in log
    assert message(error) == (
        f"pyproject.toml does not allow Python {V}\n"
        "The project requires Python ^3.14 (requires-python, or python in [tool.poetry.dependencies]), so "
        f"poetry refused to install with Python {V}. This build uses Python {V} because .python-version says "
        "'3.11': change it to a version that matches ^3.14. Or widen the requirement in pyproject.toml, run "
        "`poetry lock` and deploy again."
    )


def test_uv_refuses_the_version_of_runtime_txt(make: Callable[..., DepsApp]) -> None:
    app = make("uv-basic", "uv", {"runtime.txt": "python-3.11\n", ".python-version": "3.12\n"})
    app.edit("pyproject.toml", 'requires-python = ">=3.11"', 'requires-python = "==3.12.*"')
    log, error = failure(app)
    assert "which is incompatible with the project's Python requirement: `==3.12.*`" in log
    assert message(error) == (
        f"pyproject.toml does not allow Python {V}\n"
        f"The project's requires-python is ==3.12.*, so uv refused to install with Python {V}. This build "
        f"uses Python {V} because runtime.txt says 'python-3.11', and runtime.txt takes precedence over "
        ".python-version (3.12). Delete runtime.txt (`git rm runtime.txt`): .python-version will then be "
        "used. Or widen requires-python, run `uv lock` and deploy again."
    )


def test_pipenv_refuses_the_version_of_runtime_txt(make: Callable[..., DepsApp]) -> None:
    app = make("pipenv-basic", "pipenv", {"runtime.txt": "python-3.11\n"})
    app.edit("Pipfile", 'python_version = "3.11"', 'python_version = "3.12"')
    log, error = failure(app)
    assert f'Your Pipfile requires "python_version" 3.12, but you are using {V}' in log
    assert message(error) == (
        "The Pipfile requires Python 3.12\n"
        f"The Pipfile's [requires] python_version is 3.12, so pipenv refused to install with Python {V}. "
        f"This build uses Python {V} because runtime.txt says 'python-3.11'. runtime.txt is deprecated: "
        "delete it (`git rm runtime.txt`) and create a .python-version file holding a version that matches "
        "3.12. Or change python_version in the Pipfile, run `pipenv lock` and deploy again."
    )


def test_pip_package_refuses_the_version_of_python_version(make: Callable[..., DepsApp]) -> None:
    app = make("pip-local", "pip", {".python-version": "3.11\n"})
    app.edit("localpkg/pyproject.toml", 'version = "0.1.0"', 'version = "0.1.0"\nrequires-python = ">=3.12"')
    log, error = failure(app)
    assert f"ERROR: Package 'localpkg' requires a different Python: {V} not in '>=3.12'" in log
    assert message(error) == (
        f"localpkg does not support Python {V}\n"
        f"localpkg requires Python >=3.12, so pip refused to install it with Python {V}. This build uses "
        f"Python {V} because .python-version says '3.11': change it to a version that matches >=3.12. Or "
        f"require a release of localpkg that supports Python {V} in requirements.txt."
    )


def git_requirement(host: str) -> dict[str, str]:
    return {"requirements.txt": f"gitpkg @ git+https://{host}/acme/gitpkg.git@v1\n"}


@pytest.mark.parametrize(
    ("fixture", "manager", "files", "host", "said", "declared_in"),
    [
        # .invalid never resolves (RFC 2606), and nothing listens on port 9 of the loopback
        # interface: no request leaves the machine.
        (
            None,
            "pip",
            git_requirement("github.invalid"),
            "github.invalid",
            "Could not resolve host",
            "requirements.txt",
        ),
        (
            None,
            "pip",
            git_requirement("127.0.0.1:9"),
            "127.0.0.1",
            "Failed to connect to 127.0.0.1",
            "requirements.txt",
        ),
        ("uv-git-unreachable", "uv", {}, "github.invalid", "Git operation failed", "uv.lock, pyproject.toml"),
        (
            "poetry-git-unreachable",
            "poetry",
            {},
            "github.invalid",
            "Max retries exceeded",
            "poetry.lock, pyproject.toml",
        ),
    ],
)
def test_unreachable_git_host(
    make: Callable[..., DepsApp],
    fixture: str | None,
    manager: str,
    files: dict[str, str],
    host: str,
    said: str,
    declared_in: str,
) -> None:
    log, error = failure(make(fixture, manager, files))
    assert said in log
    assert message(error) == (
        f"{manager} could not reach {host}\n"
        f"{manager} could not fetch a git dependency from {host}: the host name could not be resolved "
        "or the host did not answer (see the output above). Check the repository URL in "
        f"{declared_in}, and that {host} is reachable from the platform (a private git server must "
        "accept connections from the build). If it is, this is usually temporary: build again."
    )


def test_failed_install_output_is_shown_once(make_app: Callable[..., AppBuild]) -> None:
    app = make_app(files={"requirements.txt": "an-invalid-requirement!\n"})
    result = app.build()
    assert not result.ok
    assert result.output.count("ERROR: Invalid requirement: 'an-invalid-requirement!'") == 1
    error = result.output[result.output.index("! Error:") :].strip()
    assert error == (
        "! Error: Invalid line in requirements.txt\n"
        "!\n"
        "! pip cannot parse 'an-invalid-requirement!': Expected semicolon (after name with no\n"
        "! version specifier) or end (see the output above). Each line of requirements.txt is a\n"
        "! requirement such as `flask==3.1.0`, an option such as `-r other.txt`, or a comment\n"
        "! starting with #. Fix the line and deploy again."
    )
