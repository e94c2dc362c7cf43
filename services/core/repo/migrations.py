"""The ``schema_migrations`` record and the lock migrating processes share (synchronous).

Migrations run before any pool exists, from ``devflow migrate`` and at start-up, on one plain
psycopg connection in autocommit mode; each applied migration's transaction is the caller's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.core.repo._conn import SyncConn

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
TABLE_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"
SELECT_APPLIED = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
INSERT_APPLIED = "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
LOCK = "SELECT pg_advisory_lock(%s)"
UNLOCK = "SELECT pg_advisory_unlock(%s)"


def create_table(conn: SyncConn) -> None:
    """Create ``schema_migrations`` unless it exists."""
    conn.execute(CREATE_TABLE)


def table_exists(conn: SyncConn) -> bool:
    """Whether ``schema_migrations`` exists (it doesn't before the first migration)."""
    row = conn.execute(TABLE_EXISTS).fetchone()
    return bool(row and row[0])


def select_applied(conn: SyncConn) -> dict[int, tuple[str, str]]:
    """The applied migrations: version -> (file name, checksum)."""
    return {int(v): (str(n), str(c)) for v, n, c in conn.execute(SELECT_APPLIED).fetchall()}


def insert_applied(conn: SyncConn, version: int, name: str, checksum: str) -> None:
    """Record migration ``version`` as applied."""
    conn.execute(INSERT_APPLIED, (version, name, checksum))


def lock(conn: SyncConn, key: int) -> None:
    """Wait for, then hold, the session advisory lock ``key`` (until :func:`unlock`)."""
    conn.execute(LOCK, (key,))


def unlock(conn: SyncConn, key: int) -> None:
    """Release the session advisory lock ``key``."""
    conn.execute(UNLOCK, (key,))
