"""Imports only go down: the shipped package's import graph has no cycle, and each folder only
imports the ones below it. Read from the source, so a new upward import fails here first.

    leaves (pins, stack table, version numbers, digests, errors, ...)  <  files/  <  cnb/  <  stacks/
    <  runtime/  <  app/  <  caching/  <  layers/  <  package_managers/  <  project  <  dependencies  <  build

docs/architecture.md draws the same floors.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "python_buildpack"
DEV = "python_buildpack_dev"
# Modules that import nothing from the package: anyone may import them.
LEAVES = {"tool_versions", "stacks.table", "app.digests", "errors", "output", "runtime.version_numbers",
          "files.safe_read", "files.trees", "files.bytecode"}
# The floors, lowest first: a floor never imports one above it (nor the step context and the runner,
# below `app`: what every build step receives).
FLOORS = ("files", "cnb", "stacks", "runtime", "app", "redeploy", "caching", "layers", "package_managers", "project",
          "dependencies", "build")
STEP_MACHINERY = {"step_context", "process"}
FORBIDDEN = {
    floor: set(FLOORS[index + 1 :]) | (STEP_MACHINERY if index < FLOORS.index("app") else set())
    for index, floor in enumerate(FLOORS[:-1])
}
# The development tools: each engine and the runtime mirror stand alone on what they share
# (`platform/`); only the `local-lifecycle` command (`lifecycle/`) puts them together.
DEV_FLOORS = {
    "package": {"platform", "emulated", "reference", "pack", "runtime_mirror", "lifecycle"},
    "runtime_mirror": {"platform", "emulated", "reference", "pack", "lifecycle"},
    "platform": {"emulated", "reference", "pack", "lifecycle"},
    "emulated": {"reference", "pack", "lifecycle"},
    "reference": {"emulated", "pack", "lifecycle"},
    "pack": {"emulated", "reference", "lifecycle"},
}


def modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / package).rglob("*.py")):
        parts = path.relative_to(SRC / package).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(package: str, known: dict[str, Path], name: str, path: Path) -> set[str]:
    """The modules of `package` that `name` imports (relative names resolved), at any level of the
    file; those of the other package keep their full name."""
    parent = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if node.level:
                base = parent[: len(parent) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif root == package:
                target = (node.module or "")[len(package) + 1 :]
            elif root in (PACKAGE, DEV):
                found.add(node.module or "")
                continue
            else:
                continue
            for alias in node.names:  # `from .layers import python`: the module is the name
                submodule = f"{target}.{alias.name}".strip(".")
                found.add(submodule if submodule in known else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in (PACKAGE, DEV)}
    return found


MODULES = modules(PACKAGE)
GRAPH = {name: imports(PACKAGE, MODULES, name, path) for name, path in MODULES.items()}
DEV_MODULES = modules(DEV)
DEV_GRAPH = {name: imports(DEV, DEV_MODULES, name, path) for name, path in DEV_MODULES.items()}


def test_the_graph_is_read() -> None:
    assert "layers.python" in GRAPH["build"] and "cnb.layers" in GRAPH["layers.venv"]
    assert "caching.plan" in GRAPH["layers.venv"] and "runtime.catalog" in GRAPH["runtime.pin"]
    assert "platform.phases" in DEV_GRAPH["emulated.builder"] and "python_buildpack.cnb" in DEV_GRAPH["emulated.builder"]


def test_the_shipped_package_never_imports_the_development_tools() -> None:
    assert not {name: deps for name, deps in GRAPH.items() if any(d.startswith(DEV) for d in deps)}


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_leaves_import_nothing_of_the_package(leaf: str) -> None:
    assert not {d for d in GRAPH[leaf] if d}


def upward(graph: dict[str, set[str]], folder: str, forbidden: set[str]) -> dict[str, list[str]]:
    found = {
        name: sorted(d for d in deps if d.split(".")[0] in forbidden)
        for name, deps in graph.items()
        if name == folder or name.startswith(f"{folder}.")
    }
    return {name: deps for name, deps in found.items() if deps}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_upward_import(folder: str) -> None:
    assert not upward(GRAPH, folder, FORBIDDEN[folder])


@pytest.mark.parametrize("folder", sorted(DEV_FLOORS))
def test_no_engine_imports_another(folder: str) -> None:
    assert not upward(DEV_GRAPH, folder, DEV_FLOORS[folder])


def test_every_folder_has_a_floor() -> None:
    """A new subpackage must say where it stands (FLOORS / DEV_FLOORS), or the rules above miss it."""
    shipped = {p.parent.name for p in (SRC / PACKAGE).glob("*/__init__.py")}
    development = {p.parent.name for p in (SRC / DEV).glob("*/__init__.py")}
    assert shipped <= set(FLOORS) and development <= set(DEV_FLOORS) | {"lifecycle"}


@pytest.mark.parametrize("graph", [GRAPH, DEV_GRAPH], ids=["shipped", "development"])
def test_no_cycle(graph: dict[str, set[str]]) -> None:
    known = set(graph)

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError(" -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in graph[name]:
            # A parent package's __init__ is not a dependency of its modules.
            if dep in known and not name.startswith(f"{dep}."):
                visit(dep, [*path, name])
        done.add(name)

    done: set[str] = set()
    for name in graph:
        visit(name, [])


@pytest.mark.parametrize(
    ("module", "line", "folder"),
    [
        ("files/trees.py", "from ..layers import venv", "files"),
        ("runtime/selection.py", "from .. import project", "runtime"),
        ("cnb/layers.py", "from ..step_context import Context", "cnb"),
        ("app/hooks.py", "from ..caching import plan", "app"),
    ],
)
def test_a_planted_upward_import_is_caught(tmp_path: Path, module: str, line: str, folder: str) -> None:
    """The rule above on a copy of the package with one upward import added: it must fail."""
    copy = tmp_path / PACKAGE
    shutil.copytree(SRC / PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    path = copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    planted = {name: copy / p.relative_to(SRC / PACKAGE) for name, p in MODULES.items()}
    graph = {name: imports(PACKAGE, planted, name, p) for name, p in planted.items()}
    assert upward(graph, folder, FORBIDDEN[folder]), f"{line} in {module} was not caught"
    assert not upward(GRAPH, folder, FORBIDDEN[folder])
