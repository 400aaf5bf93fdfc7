"""Imports only go down: the shipped package's import graph has no cycle, and each folder only
imports the ones below it. Read from the source, so a new upward import fails here first.

    leaves (pins, stacks, digests, errors, ...)  <  cnb/  <  cache_plan  <  layers/  <  package_managers/
    <  project  <  dependencies  <  build
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "python_buildpack"
# Modules that import nothing from the package: anyone may import them.
LEAVES = {"tool_versions", "stacks", "digests", "errors", "version_numbers", "safe_read", "trees"}
# What a folder (or module) must never import.
FORBIDDEN = {
    "cnb": {"layers", "package_managers", "project", "dependencies", "build", "context", "process"},
    # What the build keeps for the next one: read by the layers, so below them.
    "cache_plan": {"layers", "package_managers", "project", "dependencies", "build", "context", "process"},
    "layers": {"package_managers", "project", "dependencies", "build"},
    "package_managers": {"project", "dependencies", "build"},
    "project": {"dependencies", "build"},
    "dependencies": {"build"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC / PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path) -> set[str]:
    """The package modules `name` imports (relative names resolved), at any level of the file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and node.module.split(".")[0] in (PACKAGE, f"{PACKAGE}_dev"):
                target = node.module if node.module.startswith(f"{PACKAGE}_dev") else node.module[len(PACKAGE) + 1 :]
            else:
                continue
            for alias in node.names:  # `from .layers import python`: the module is the name
                submodule = f"{target}.{alias.name}".strip(".")
                found.add(submodule if submodule in MODULES else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in (PACKAGE, f"{PACKAGE}_dev")}
    return found


MODULES = modules()
GRAPH = {name: imports(name, path) for name, path in MODULES.items()}


def test_the_graph_is_read() -> None:
    assert "layers.python" in GRAPH["build"] and "cnb.layers" in GRAPH["layers.venv"]


def test_the_shipped_package_never_imports_the_development_tools() -> None:
    assert not {name: deps for name, deps in GRAPH.items() if any(d.startswith(f"{PACKAGE}_dev") for d in deps)}


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_leaves_import_nothing_of_the_package(leaf: str) -> None:
    assert not {d for d in GRAPH[leaf] if d}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_upward_import(folder: str) -> None:
    upward = {
        name: sorted(d for d in deps if d.split(".")[0] in FORBIDDEN[folder])
        for name, deps in GRAPH.items()
        if name == folder or name.startswith(f"{folder}.")
    }
    assert not {name: deps for name, deps in upward.items() if deps}


def test_no_cycle() -> None:
    known = set(GRAPH)

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError(" -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in GRAPH[name]:
            # A parent package's __init__ is not a dependency of its modules.
            if dep in known and not name.startswith(f"{dep}."):
                visit(dep, [*path, name])
        done.add(name)

    done: set[str] = set()
    for name in GRAPH:
        visit(name, [])
