"""Services other than ingest read ingest's tables only through its read contract.

Ingest owns ``events``, ``persons``, ``person_distinct_ids``, ``person_merges`` and ``groups``;
the others read the ``analytics.*_v1`` views of migration 0009 (see
``tests/ingest/test_read_contract.py``). This scans every SQL text of every package under
``services/`` but ingest — the kernel and the CLI included — as string literals of their ``.py``
files (docstrings left out: prose says "events" freely) and their ``.sql`` files, for a base table
named where SQL names a relation (after ``FROM``, ``JOIN``, ``INTO``, ``UPDATE``, ``TABLE``,
``TRUNCATE``), unqualified or ``public.``. The packages are discovered, so a new service is
checked from its first commit.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The owner of the tables below: the one package allowed to name them.
OWNER = "ingest"
# Ingest's tables, readable by others only through analytics.<name>_v1.
BASE_TABLES: frozenset[str] = frozenset(
    {"events", "persons", "person_distinct_ids", "person_merges", "groups"}
)

_RELATION = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|TRUNCATE)\s+(?:ONLY\s+)?(?:public\.)?\"?(\w+)\b",
    re.IGNORECASE,
)
_SQL_COMMENT = re.compile(r"--[^\n]*")


def readers(services: Path) -> list[Path]:
    """Every package directly under ``services`` (a directory with an ``__init__.py``) but the
    tables' owner."""
    return sorted(
        p for p in services.iterdir() if (p / "__init__.py").is_file() and p.name != OWNER
    )


READERS = [p.relative_to(ROOT).as_posix() for p in readers(ROOT / "services")]


def base_tables_named(sql: str) -> set[str]:
    """The base tables ``sql`` names as a relation (not through the ``analytics.`` views)."""
    return {m.group(1).lower() for m in _RELATION.finditer(_SQL_COMMENT.sub("", sql))} & BASE_TABLES


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string nodes that are docstrings (of the module, classes and functions)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _python_texts(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal but docstrings; an f-string's constant parts are
    joined with a placeholder, so ``f"FROM {x} e"`` reads ``FROM ? e``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _docstrings(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "?" for v in node.values]
            out.append((node.lineno, "".join(str(p) for p in parts)))
            skip.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str | bytes)
            and id(node) not in skip
        ):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            out.append((node.lineno, text))
    return out


def _violations(service_dir: Path) -> list[str]:
    found = []
    for path in sorted(service_dir.rglob("*")):
        if path.suffix == ".py":
            texts = _python_texts(path)
        elif path.suffix == ".sql":
            texts = [(1, path.read_text())]
        else:
            continue
        for line, text in texts:
            for table in sorted(base_tables_named(text)):
                found.append(f"{path.relative_to(ROOT)}:{line}: {table}")
    return found


@pytest.mark.parametrize("service", READERS)
def test_service_reads_ingest_tables_only_through_the_contract(service: str) -> None:
    service_dir = ROOT / service
    assert service_dir.is_dir(), service
    violations = _violations(service_dir)
    assert not violations, "read analytics.<table>_v1 instead:\n" + "\n".join(violations)


def test_every_service_but_ingest_is_checked(tmp_path: Path) -> None:
    # The check itself: readers are discovered, the kernel and the CLI among them, and a new
    # service is checked without being listed; ingest and folders that aren't packages are not.
    assert {"services/core", "services/cli", "services/flags"} <= set(READERS)
    assert "services/ingest" not in READERS
    for name in ("billing", "core", OWNER):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "static").mkdir()
    assert [p.name for p in readers(tmp_path)] == ["billing", "core"]


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT uuid FROM events WHERE project_id = %s", {"events"}),
        ('SELECT 1 FROM public."persons" p', {"persons"}),
        ("select * from x left join person_distinct_ids p on true", {"person_distinct_ids"}),
        (
            "SELECT 1 FROM a JOIN person_merges pm ON true JOIN groups g ON true",
            {"person_merges", "groups"},
        ),
        ("INSERT INTO events (uuid) VALUES (%s)", {"events"}),
        ("UPDATE persons SET properties = %s", {"persons"}),
        ("SELECT 1 FROM analytics.events_v1 e JOIN analytics.persons_v1 p ON true", set()),
        ("SELECT 1 FROM touched_events e JOIN replay_sessions s ON true", set()),
        ("SELECT 1 FROM x -- not FROM events\nWHERE true", set()),
        ("SELECT extract(epoch FROM events_at) FROM t", set()),
    ],
)
def test_the_scan_finds_base_tables_named_in_sql(sql: str, named: set[str]) -> None:
    assert base_tables_named(sql) == named


def test_the_scan_reads_string_literals_not_docstrings(tmp_path: Path) -> None:
    module = tmp_path / "repo.py"
    module.write_text(
        '"""Reads rows FROM events, in prose."""\n'
        'A = "SELECT 1 FROM analytics.events_v1"\n'
        'B = f"SELECT 1 FROM {A} e JOIN persons p ON true"\n'
        'C = b"DELETE FROM groups"\n'
    )
    found = {t for _, text in _python_texts(module) for t in base_tables_named(text)}
    assert found == {"persons", "groups"}
