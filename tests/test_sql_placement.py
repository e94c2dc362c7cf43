"""SQL lives only in repo modules (``repo.py`` or a ``repo/`` package) and ``.sql`` files.

Scans the string literals (docstrings aside) of every ``.py`` file of every package under
``services/`` (the kernel and the CLI included) for SQL statements. The packages are discovered,
so a new service is checked from its first commit.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The start of a statement; uppercase as our SQL is written, so prose in messages doesn't match.
SQL = re.compile(
    r"\b(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|COPY\s+\w+"
    r"|(CREATE|ALTER|DROP)\s+(TEMP\s+|MATERIALIZED\s+)?(TABLE|INDEX|VIEW|SCHEMA|FUNCTION)"
    r"|LOCK\s+TABLE|WITH\s+\w+\s+AS\s*\()"
)


def packages(services: Path) -> list[Path]:
    """Every package directly under ``services`` (a directory with an ``__init__.py``)."""
    return sorted(p for p in services.iterdir() if (p / "__init__.py").is_file())


def is_repo_module(path: Path, directory: Path) -> bool:
    """``repo.py``, or any module of a ``repo/`` package (or of a package inside one), below
    ``directory``."""
    return path.name == "repo.py" or "repo" in path.relative_to(directory).parent.parts


def _docstrings(tree: ast.AST) -> set[int]:
    """Ids of the docstring nodes of the module, its classes and functions."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
        ):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_outside_repos(directory: Path, root: Path = ROOT) -> list[str]:
    """``path:line: text`` (path relative to ``root``) of every SQL string literal outside repo
    modules under ``directory``."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(directory.rglob("*.py")):
        if is_repo_module(path, directory):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, once
                skip.update(id(v) for v in node.values)
                text = "".join(
                    v.value for v in node.values if isinstance(v, ast.Constant) and v.value
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in skip:
                    continue
                text = node.value
            else:
                continue
            if SQL.search(text):
                first = text.strip().splitlines()[0][:80]
                found.append((str(path.relative_to(root)), node.lineno, first))
    return [f"{where}:{line}: {text}" for where, line, text in sorted(found)]


SCANNED = [p.relative_to(ROOT).as_posix() for p in packages(ROOT / "services")]


@pytest.mark.parametrize("directory", SCANNED)
def test_sql_is_only_in_repo_modules(directory: str) -> None:
    assert sql_outside_repos(ROOT / directory) == []


def test_every_package_under_services_is_scanned(tmp_path: Path) -> None:
    # The check itself: packages are discovered, the kernel and the CLI among them, and a new
    # service is scanned without being listed; folders that are not packages are left out.
    assert {"services/core", "services/cli", "services/ingest"} <= set(SCANNED)
    for name in ("billing", "core"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "static").mkdir()
    assert [p.name for p in packages(tmp_path)] == ["billing", "core"]


def test_the_scan_finds_sql_in_strings_and_f_strings(tmp_path: Path) -> None:
    # The check itself: SQL in a plain string or an f-string is found, docstrings, prose and repo
    # modules are not.
    (tmp_path / "repo" / "ledger").mkdir(parents=True)
    (tmp_path / "repo" / "things.py").write_text('Q = "SELECT 1"\n')
    (tmp_path / "repo" / "ledger" / "entries.py").write_text('Q = "SELECT 2"\n')
    (tmp_path / "repo.py").write_text('Q = "DELETE FROM t"\n')
    (tmp_path / "queries.sql").write_text("SELECT 1;\n")
    (tmp_path / "service.py").write_text(
        '"""Runs SELECT 1 on start."""\n'
        'A = "select the flag to delete"\n'
        'B = "SELECT id FROM t WHERE x = %s"\n'
        "def f(name: str) -> str:\n"
        '    """INSERT INTO here is documentation."""\n'
        '    return f"DROP TABLE {name}"\n'
    )
    found = [line.split(": ", 1)[0] for line in sql_outside_repos(tmp_path, tmp_path)]
    assert found == ["service.py:3", "service.py:6"]
