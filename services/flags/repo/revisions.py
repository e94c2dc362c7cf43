"""SQL of each project's flag revision (the write lock and cache key of its definitions) and of
the outbox of changes still to publish."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.flags.repo._conn import Conn

BUMP_REVISION = """
INSERT INTO flag_revisions (project_id, revision) VALUES (%s, 1)
ON CONFLICT (project_id) DO UPDATE
SET revision = flag_revisions.revision + 1, updated_at = clock_timestamp()
RETURNING revision
"""
SELECT_REVISION = "SELECT revision FROM flag_revisions WHERE project_id = %s"
# Every project's flag writes wait while this is held (they bump their revision first).
LOCK_REVISIONS = "LOCK TABLE flag_revisions IN EXCLUSIVE MODE"

INSERT_OUTBOX = (
    "INSERT INTO flag_outbox (change_id, project_id, subject, payload) VALUES (%s, %s, %s, %s)"
)
DELETE_OUTBOX = "DELETE FROM flag_outbox WHERE change_id = %s"
SELECT_OUTBOX = """
SELECT change_id, subject, payload FROM flag_outbox
WHERE created_at < clock_timestamp() - make_interval(secs => %s)
ORDER BY change_id LIMIT 100 FOR UPDATE SKIP LOCKED
"""


async def bump_revision(conn: Conn, project_id: int) -> int:
    """Move the project's revision; the row lock also serialises the project's flag writes."""
    row = await (await conn.execute(BUMP_REVISION, (project_id,))).fetchone()
    assert row is not None
    return int(row[0])


async def select_revision(conn: Conn, project_id: int) -> int:
    """The project's current revision (0 before its first flag change)."""
    row = await (await conn.execute(SELECT_REVISION, (project_id,))).fetchone()
    return int(row[0]) if row else 0


async def lock_revisions(conn: Conn) -> None:
    """Hold every project's flag writes until this transaction ends."""
    await conn.execute(LOCK_REVISIONS)


async def insert_outbox(
    conn: Conn, change_id: int, project_id: int, subject: str, payload: bytes
) -> None:
    """Keep a change's message until it is published (same transaction as the change)."""
    await conn.execute(INSERT_OUTBOX, (change_id, project_id, subject, payload))


async def delete_outbox(conn: Conn, change_id: int) -> None:
    """Forget a change's message once published."""
    await conn.execute(DELETE_OUTBOX, (change_id,))


async def select_outbox(conn: Conn, older_than_s: float) -> list[tuple[int, str, bytes]]:
    """Messages older than ``older_than_s`` still unpublished, locked for this transaction."""
    cur = await conn.execute(SELECT_OUTBOX, (older_than_s,))
    return [(int(r[0]), str(r[1]), bytes(r[2])) for r in await cur.fetchall()]
