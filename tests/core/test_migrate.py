"""The migration runner, on fresh databases of the session's PostgreSQL server."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

import psycopg
import pytest

from services.core.errors import StartupError
from services.core.migrate import MIGRATIONS_DIR, discover, migrate
from tests.support import Servers, new_database

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def db(servers: Servers) -> str:
    return new_database(servers.pg_url)


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A migrations folder whose later files depend on the earlier ones, and log their order."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    _write(
        folder,
        "0001_log.sql",
        "CREATE TABLE log (n serial PRIMARY KEY, name text);\n"
        "INSERT INTO log (name) VALUES ('0001');",
    )
    _write(
        folder,
        "0002_things.sql",
        "CREATE TABLE things (id int);\nINSERT INTO log (name) VALUES ('0002');",
    )
    _write(
        folder,
        "0010_more.sql",
        "ALTER TABLE things ADD COLUMN label text;\nINSERT INTO log (name) VALUES ('0010');",
    )
    (folder / "README.md").write_text("not a migration")
    return folder


def _write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql)


def _rows(db: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_applies_in_order_and_records_checksums(db: str, migrations: Path) -> None:
    assert migrate(db, migrations) == ["0001_log.sql", "0002_things.sql", "0010_more.sql"]
    assert _rows(db, "SELECT name FROM log ORDER BY n") == [("0001",), ("0002",), ("0010",)]
    recorded = _rows(db, "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    expected = [
        (int(p.name[:4]), p.name, hashlib.sha256(p.read_text().encode()).hexdigest())
        for p in sorted(migrations.glob("*.sql"))
    ]
    assert recorded == expected


def test_is_idempotent(db: str, migrations: Path) -> None:
    migrate(db, migrations)
    assert migrate(db, migrations) == []
    assert migrate(db, migrations) == []
    assert _rows(db, "SELECT count(*) FROM log") == [(3,)]
    assert _rows(db, "SELECT count(*) FROM schema_migrations") == [(3,)]


def test_applies_only_what_is_new(db: str, migrations: Path) -> None:
    migrate(db, migrations)
    _write(migrations, "0011_newer.sql", "INSERT INTO log (name) VALUES ('0011');")
    assert migrate(db, migrations) == ["0011_newer.sql"]
    assert _rows(db, "SELECT name FROM log ORDER BY n")[-1] == ("0011",)


def test_refuses_a_changed_applied_migration(db: str, migrations: Path) -> None:
    migrate(db, migrations)
    _write(migrations, "0002_things.sql", "CREATE TABLE things (id bigint);")
    _write(migrations, "0011_newer.sql", "INSERT INTO log (name) VALUES ('0011');")
    with pytest.raises(StartupError, match=r"0002_things\.sql was changed after it was applied"):
        migrate(db, migrations)
    # Nothing after the refusal ran.
    assert _rows(db, "SELECT count(*) FROM schema_migrations") == [(3,)]
    assert ("0011",) not in _rows(db, "SELECT name FROM log")


def test_a_failing_migration_leaves_no_trace(db: str, migrations: Path) -> None:
    _write(migrations, "0011_broken.sql", "CREATE TABLE half (id int);\nSELECT no_such_function();")
    with pytest.raises(StartupError, match=r"0011_broken\.sql"):
        migrate(db, migrations)
    # The ones before it are applied; the broken one neither recorded nor half-applied.
    versions = _rows(db, "SELECT version FROM schema_migrations ORDER BY version")
    assert versions == [(1,), (2,), (10,)]
    assert _rows(db, "SELECT to_regclass('half')") == [(None,)]
    # Fixed, it applies.
    _write(migrations, "0011_broken.sql", "CREATE TABLE half (id int);")
    assert migrate(db, migrations) == ["0011_broken.sql"]


def test_concurrent_runners_apply_each_migration_once(db: str, migrations: Path) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(db, migrations))
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(name for applied in results for name in applied) == [
        "0001_log.sql",
        "0002_things.sql",
        "0010_more.sql",
    ]
    assert _rows(db, "SELECT count(*) FROM log") == [(3,)]


@pytest.mark.parametrize(
    "bad_name",
    ["1_short.sql", "0003-dash.sql", "0003_Upper.sql", "0003_.sql.bak.sql", "abcd_x.sql"],
)
def test_refuses_badly_named_files(db: str, migrations: Path, bad_name: str) -> None:
    _write(migrations, bad_name, "SELECT 1;")
    with pytest.raises(StartupError, match=r"NNNN_name\.sql"):
        migrate(db, migrations)
    assert _rows(db, "SELECT to_regclass('schema_migrations')") == [(None,)]


def test_refuses_two_files_with_one_version(migrations: Path) -> None:
    _write(migrations, "0002_again.sql", "SELECT 1;")
    with pytest.raises(StartupError, match="share a version"):
        discover(migrations)


def test_an_empty_folder_creates_only_the_ledger(db: str, tmp_path: Path) -> None:
    assert migrate(db, tmp_path) == []
    assert _rows(db, "SELECT count(*) FROM schema_migrations") == [(0,)]


def test_the_projects_migrations_build_a_native_schema(db: str) -> None:
    applied = migrate(db)
    assert applied == [m.name for m in discover(MIGRATIONS_DIR)]
    assert applied[0].startswith("0001_")
    assert _rows(db, "SELECT value FROM platform_info WHERE key = 'storage_mode'") == [
        ("partitioned",)
    ]
    for table in ("projects", "events", "events_hourly", "persons", "person_distinct_ids"):
        assert _rows(db, f"SELECT to_regclass('{table}') IS NOT NULL") == [(True,)]
    assert migrate(db) == []
