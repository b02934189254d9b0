"""Only `core/store.py` spells the eventsourcing library's tables (ADR 0003).

Every string literal in the package sources (docstrings aside) is searched for
the names of the library's tables and columns; a statement that names them
anywhere else would let a second module depend on the table layout.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "projections", "scoring", "transfer", "sample", "sync", "server", "cli", "web")
DOOR = ROOT / "core" / "store.py"
LIBRARY_NAMES = re.compile(
    r"\b(stored_events|notification_tracking|notification_id|originator_id|originator_version)\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def library_sql(source: str) -> list[tuple[int, str]]:
    """(line, text) of each non-docstring string literal naming a library table or column."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and LIBRARY_NAMES.search(node.value)
    ]


def test_the_check_sees_statements_and_not_docstrings() -> None:
    source = '"""Reads stored_events."""\nQ = f"SELECT MAX(notification_id) FROM {t}"\n'
    assert library_sql(source) == [(2, "SELECT MAX(notification_id) FROM ")]
    assert library_sql('X = "SELECT 1 FROM stored_events"\n')
    assert library_sql('def f():\n    """notification_id"""\n    return x.originator_id\n') == []


def test_only_core_store_names_the_library_tables() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()[:60]!r}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != DOOR
        for line, text in library_sql(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_door_does_name_them() -> None:
    assert library_sql(DOOR.read_text(encoding="utf-8"))
