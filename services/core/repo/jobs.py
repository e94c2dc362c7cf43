"""The background jobs' tables: dramatiq's ``queue`` and the periodic jobs' ``periodic_jobs``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.core.repo._conn import Conn

# The row dramatiq-postgres' own enqueue writes, with the notification its consumers listen for.
# clock_timestamp(), not now(): inside a long transaction now() would shorten the delay.
ENQUEUE = """
WITH enqueued AS (
    INSERT INTO dramatiq.queue (queue_name, message_id, state, message, available_at)
    VALUES (%(queue)s, %(message_id)s, 'queued', %(message)s::jsonb,
            clock_timestamp() + make_interval(secs => %(delay_s)s))
    RETURNING queue_name
)
SELECT pg_notify('dramatiq.' || queue_name || '.enqueue', '') FROM enqueued
"""
TRY_LOCK = "SELECT pg_try_advisory_lock(%s, hashtext(%s))"
# A row back means this process won the run; none means the job is not due yet.
CLAIM_RUN = """
INSERT INTO periodic_jobs AS p (name, fired_at) VALUES (%(name)s, now())
ON CONFLICT (name) DO UPDATE SET fired_at = now()
    WHERE p.fired_at <= now() - make_interval(secs => %(interval_s)s)
RETURNING fired_at
"""
DUE_IN = """
SELECT extract(epoch FROM fired_at + make_interval(secs => %(interval_s)s) - now())::float8
FROM periodic_jobs WHERE name = %(name)s
"""


async def enqueue(conn: Conn, *, queue: str, message_id: str, message: str, delay_s: float) -> None:
    """Queue the encoded dramatiq ``message`` on ``queue``, available in ``delay_s`` seconds, and
    wake the queue's consumers (when ``conn``'s transaction commits)."""
    params = {"queue": queue, "message_id": message_id, "message": message, "delay_s": delay_s}
    await conn.execute(ENQUEUE, params)


async def try_lock(conn: Conn, namespace: int, name: str) -> bool:
    """Take the session advisory lock (``namespace``, ``name``) if free; whether it was."""
    row = await (await conn.execute(TRY_LOCK, (namespace, name))).fetchone()
    return bool(row and row[0])


async def claim_run(conn: Conn, name: str, interval_s: float) -> bool:
    """Move periodic job ``name``'s last run to now if ``interval_s`` has passed since; whether it
    moved (this caller runs the job) or it is not due yet."""
    params = {"name": name, "interval_s": interval_s}
    return await (await conn.execute(CLAIM_RUN, params)).fetchone() is not None


async def due_in(conn: Conn, name: str, interval_s: float) -> float | None:
    """Seconds until periodic job ``name`` is due (negative when overdue); None when it never
    ran."""
    params = {"name": name, "interval_s": interval_s}
    row = await (await conn.execute(DUE_IN, params)).fetchone()
    return float(row[0]) if row else None
