"""Every import is the standard library, the project, or a package `pyproject.toml` declares for that use.

A fresh machine installs only what `pyproject.toml` declares, so an import that some other package happens to
pull in (or that was installed by hand) works here and fails there. Each file is read with `ast`, never
imported; its top-level imported modules are checked against the distributions of its group:

- product code (`server/`, `clinic_desktop/`): the project's dependencies;
- the bench (`server/bench/`): the dependencies and the `bench` extra;
- packaging scripts (`packaging/`): the dependencies and the `package` extra;
- tests (`tests/`): the dependencies and the `test` extra.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = {"server", "clinic_desktop", "tests"}
SOURCE_FOLDERS = ("server", "clinic_desktop", "packaging", "tests")


def normalize(name: str) -> str:
    """A distribution name as the packaging standards compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"unreadable requirement in pyproject.toml: {requirement!r}"
    return normalize(match.group(1))


def declared() -> dict[str, set[str]]:
    """Distribution names per group: "dependencies" and each optional extra."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": {requirement_name(r) for r in project["dependencies"]}}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        groups[extra] = {requirement_name(r) for r in requirements}
    return groups


def group_of(path: Path) -> str:
    relative = path.relative_to(REPO_ROOT).as_posix()
    if relative.startswith("tests/"):
        return "test"
    if relative.startswith("server/bench/"):
        return "bench"
    if relative.startswith("packaging/"):
        return "package"
    return "dependencies"


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a file (relative imports are the project's own)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def is_local(module: str, path: Path) -> bool:
    """A module of the file's own folder or of a folder above it: pytest puts each test file's folder and
    each conftest's folder on sys.path (`python script.py` the script's folder)."""
    folders = [path.parent, *path.parent.parents] if path.is_relative_to(REPO_ROOT) else [path.parent]
    return any((folder / f"{module}.py").exists() or (folder / module / "__init__.py").exists()
               for folder in folders if folder == REPO_ROOT or folder.is_relative_to(REPO_ROOT)
               or folder == path.parent)


def python_files() -> list[Path]:
    return sorted(p for folder in SOURCE_FOLDERS for p in (REPO_ROOT / folder).rglob("*.py")
                  if "__pycache__" not in p.parts)


def undeclared_imports(files: list[Path], groups: dict[str, set[str]], group_for=group_of) -> list[str]:
    """`file: module (from distribution)` for each import no declared distribution provides."""
    providers = metadata.packages_distributions()
    problems: list[str] = []
    for path in files:
        group = group_for(path)
        allowed = groups["dependencies"] | groups.get(group, set())
        for module in sorted(imported_modules(path)):
            if module in sys.stdlib_module_names or module in PROJECT_PACKAGES or module == "__future__":
                continue
            if is_local(module, path):
                continue
            distributions = {normalize(d) for d in providers.get(module, [])}
            if distributions & allowed:
                continue
            found = ", ".join(sorted(distributions)) or "no installed distribution"
            shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
            problems.append(f"{shown}: imports {module!r} ({found}), "
                            f"which the {group!r} group of pyproject.toml does not declare")
    return problems


def test_every_import_is_declared_for_its_use() -> None:
    problems = undeclared_imports(python_files(), declared())
    assert not problems, "undeclared imports:\n" + "\n".join(problems)


def test_the_test_extra_holds_what_the_tests_run() -> None:
    """The bench's tests run its peer and plots, the packaging tests run PyInstaller: `.[test]` installs them."""
    groups = declared()
    missing = (groups["bench"] | groups["package"]) - groups["test"]
    assert not missing, f"the test extra lacks {sorted(missing)}, which the tests need"


@pytest.mark.parametrize("source, group, verdict", [
    ("import json\nfrom . import sibling\n", "dependencies", True),
    ("import asyncpg\n", "dependencies", True),
    ("import matplotlib.pyplot\n", "dependencies", False),  # only the bench and the tests declare it
    ("import matplotlib.pyplot\n", "bench", True),
    ("import this_module_exists_nowhere\n", "test", False),
])
def test_the_check_itself(tmp_path: Path, source: str, group: str, verdict: bool) -> None:
    """The checker flags what it should: an undeclared or unknown import fails, naming the module."""
    target = tmp_path / "probe.py"
    target.write_text(source, encoding="utf-8")
    problems = undeclared_imports([target], declared(), group_for=lambda _path: group)
    assert (not problems) is verdict, problems
    if not verdict:
        assert source.split()[1].split(".")[0] in problems[0]
