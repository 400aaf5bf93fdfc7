"""docs/architecture.md stays true: every module it cites exists, every name it cites in
parentheses after a module is defined there, its two floor plans list exactly the package's
folders, and the README links to it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
TEXT = DOC.read_text(encoding="utf-8")
SHIPPED = ROOT / "src" / "python_buildpack"
DEVELOPMENT = ROOT / "src" / "python_buildpack_dev"
# Where a cited path may be: the shipped package, the development package, the repository.
BASES = (SHIPPED, DEVELOPMENT, ROOT)
PATH = re.compile(r"`([\w./-]+\.(?:py|sh|toml|md))`")
# "`layers/python.py` (`install`)", "`app/hooks.py` (`run_hook`: ...)": names defined in the module.
DEFINED = re.compile(r"`([\w/]+\.py)` \(((?:`\w+`(?:, )?)+)")
BLOCKS = re.compile(r"```\n(.*?)```", re.DOTALL)
FOLDER = re.compile(r"(?<![\w/`])([a-z_]+)/(?=\s)")


# What a build writes, cited as such.
WRITTEN = {"launch.toml"}


def where(cited: str) -> Path | None:
    return next((base / cited for base in BASES if (base / cited).exists()), None)


@pytest.mark.parametrize("cited", sorted(set(PATH.findall(TEXT)) - WRITTEN))
def test_every_cited_file_exists(cited: str) -> None:
    assert where(cited) is not None, f"docs/architecture.md cites {cited}, which is not in the repository"


def names_defined(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


CITED_NAMES = sorted({(m[0], name) for m in DEFINED.findall(TEXT) for name in re.findall(r"`(\w+)`", m[1])})


def test_names_are_cited() -> None:
    assert len(CITED_NAMES) >= 15 and ("layers/python.py", "install") in CITED_NAMES


@pytest.mark.parametrize(("module", "name"), CITED_NAMES)
def test_every_cited_name_is_defined_in_its_module(module: str, name: str) -> None:
    path = where(module)
    assert path is not None and name in names_defined(path), f"{module} defines no {name}"


def test_the_floor_plans_list_every_folder() -> None:
    shipped_plan, development_plan = BLOCKS.findall(TEXT)[:2]
    shipped = {p.parent.name for p in SHIPPED.glob("*/__init__.py")}
    development = {p.parent.name for p in DEVELOPMENT.glob("*/__init__.py")}
    assert set(FOLDER.findall(shipped_plan)) == shipped
    assert set(FOLDER.findall(development_plan)) == development


def test_the_readme_links_to_it() -> None:
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
