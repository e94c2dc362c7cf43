"""SQL of scheduled flag changes (``flag_schedules``)."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING, Any

import msgspec
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from services.flags.repo._conn import Conn


class ScheduleRow(msgspec.Struct, frozen=True):
    """A scheduled flag change and its outcome (``pending``, ``applied``, ``failed``, ...)."""

    id: int
    project_id: int
    flag_id: int
    flag_key: str
    run_at: datetime
    change: dict[str, Any]
    actor: str
    reason: str
    status: str
    applied_version: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


_SCHEDULE_COLUMNS = (
    "s.id, s.project_id, s.flag_id, f.key, s.run_at, s.change, s.actor, s.reason, s.status,"
    " s.applied_version, s.error, s.created_at, s.finished_at"
)
INSERT_SCHEDULE = """
INSERT INTO flag_schedules (project_id, flag_id, run_at, change, actor, reason)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING id
"""
SELECT_SCHEDULE = f"""
SELECT {_SCHEDULE_COLUMNS} FROM flag_schedules s JOIN feature_flags f ON f.id = s.flag_id
WHERE s.id = %s
"""
SELECT_SCHEDULE_FOR_UPDATE = SELECT_SCHEDULE + " FOR UPDATE OF s"
SELECT_SCHEDULES = f"""
SELECT {_SCHEDULE_COLUMNS} FROM flag_schedules s JOIN feature_flags f ON f.id = s.flag_id
WHERE s.project_id = %s AND s.flag_id = %s ORDER BY s.run_at, s.id
"""
SELECT_DUE_SCHEDULES = """
SELECT id FROM flag_schedules
WHERE status = 'pending' AND run_at <= clock_timestamp() - make_interval(secs => %s)
ORDER BY run_at LIMIT 100
"""
FINISH_SCHEDULE = """
UPDATE flag_schedules SET status = %s, applied_version = %s, error = %s,
    finished_at = clock_timestamp()
WHERE id = %s
"""


async def insert_schedule(
    conn: Conn,
    project_id: int,
    flag_id: int,
    run_at: datetime,
    change: dict[str, Any],
    actor: str,
    reason: str,
) -> int:
    """Store a pending change to apply at ``run_at``; return its id."""
    cur = await conn.execute(
        INSERT_SCHEDULE, (project_id, flag_id, run_at, Jsonb(change), actor, reason)
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def select_schedule(
    conn: Conn, schedule_id: int, *, for_update: bool = False
) -> ScheduleRow | None:
    """One scheduled change, row-locked until commit when ``for_update``."""
    query = SELECT_SCHEDULE_FOR_UPDATE if for_update else SELECT_SCHEDULE
    row = await (await conn.execute(query, (schedule_id,))).fetchone()
    return ScheduleRow(*row) if row else None


async def select_schedules(conn: Conn, project_id: int, flag_id: int) -> list[ScheduleRow]:
    """A flag's scheduled changes in the order they run."""
    cur = await conn.execute(SELECT_SCHEDULES, (project_id, flag_id))
    return [ScheduleRow(*r) for r in await cur.fetchall()]


async def select_due_schedules(conn: Conn, overdue_s: float) -> list[int]:
    """Pending changes whose time passed more than ``overdue_s`` seconds ago."""
    cur = await conn.execute(SELECT_DUE_SCHEDULES, (overdue_s,))
    return [int(r[0]) for r in await cur.fetchall()]


async def finish_schedule(
    conn: Conn, schedule_id: int, status: str, version: int | None, error: str | None
) -> None:
    """Record how a scheduled change ended."""
    await conn.execute(FINISH_SCHEDULE, (status, version, error, schedule_id))
