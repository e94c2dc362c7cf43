"""SQL of ``stripe_events``: appended once per Stripe event id, never updated."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from services.billing.repo._conn import Conn


class LoggedEvent(msgspec.Struct, frozen=True):
    project_id: int
    event_id: str
    type: str
    created: int
    # The whole event as Stripe sent it (JSON text).
    payload: str


INSERT_EVENT = """
INSERT INTO stripe_events (project_id, event_id, type, created, livemode, payload)
VALUES (%s, %s, %s, %s, %s, %s::jsonb)
ON CONFLICT (project_id, event_id) DO NOTHING
RETURNING seq
"""
SELECT_EVENTS = """
SELECT e.project_id, e.event_id, e.type, e.created, e.payload::text
FROM stripe_events e
JOIN unnest(%s::bigint[], %s::text[]) AS k (project_id, event_id)
  ON e.project_id = k.project_id AND e.event_id = k.event_id
ORDER BY e.created, e.event_id
"""
SELECT_PROJECT_EVENTS = """
SELECT project_id, event_id, type, created, payload::text FROM stripe_events
WHERE project_id = %s ORDER BY seq
"""
SELECT_PROJECTS = "SELECT DISTINCT project_id FROM stripe_events ORDER BY project_id"


async def insert_event(
    conn: Conn, project_id: int, event_id: str, type_: str, created: int, livemode: bool, body: str
) -> bool:
    """Append the event; False when the log already holds it (a redelivery)."""
    cur = await conn.execute(INSERT_EVENT, (project_id, event_id, type_, created, livemode, body))
    return await cur.fetchone() is not None


async def select_events(conn: Conn, keys: list[tuple[int, str]]) -> list[LoggedEvent]:
    """The logged events of ``(project, event id)`` keys, oldest first."""
    cur = await conn.execute(SELECT_EVENTS, ([k[0] for k in keys], [k[1] for k in keys]))
    return [LoggedEvent(*r) for r in await cur.fetchall()]


async def select_project_events(conn: Conn, project_id: int) -> list[LoggedEvent]:
    cur = await conn.execute(SELECT_PROJECT_EVENTS, (project_id,))
    return [LoggedEvent(*r) for r in await cur.fetchall()]


async def select_projects(conn: Conn) -> list[int]:
    return [int(r[0]) for r in await (await conn.execute(SELECT_PROJECTS)).fetchall()]
