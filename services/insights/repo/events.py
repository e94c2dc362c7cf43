"""Trend and funnel reads over ``analytics.events_v1`` (with merges resolved to survivors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime  # noqa: TC003 - returned to callers at runtime
from typing import TYPE_CHECKING, Any

from services.insights.repo import Params
from services.insights.repo.fragments import (
    EVENTS,
    MERGES,
    NULL,
    OTHER,
    PERSON,
    aggregate,
    condition,
    text,
)

if TYPE_CHECKING:
    from services.insights.repo import Conn

FIRST_EVENT = 'SELECT min("timestamp") FROM analytics.events_v1 WHERE project_id = %s'
# Each statement runs under the service's timeout, so one heavy query can't hold a connection.
SET_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"
Filter = tuple[str, str, Any]  # key, operator, value


@dataclass(frozen=True)
class Scope:
    """Which events a series or step reads: project, time range, event (None: all), filters."""

    project_id: int
    start: datetime
    end: datetime
    event: str | None
    filters: list[Filter] = field(default_factory=list)


def _where(q: Params, s: Scope) -> str:
    parts = [
        f"e.project_id = {q(s.project_id)}",
        f'e."timestamp" >= {q(s.start)}',
        f'e."timestamp" < {q(s.end)}',
    ]
    if s.event is not None:
        parts.append(f"e.event = {q(s.event)}")
    parts.extend(condition(q, k, op, v) for k, op, v in s.filters)
    return " AND ".join(parts)


def _bucket(
    q: Params, interval: str, tz: str, week_shift_days: int, column: str = 'e."timestamp"'
) -> str:
    wall = f"({column} AT TIME ZONE {q(tz)})"
    if interval != "week":
        return f"date_trunc({q(interval)}, {wall})"
    # date_trunc's weeks start on Monday; shifted to start on another day.
    shift = f"make_interval(days => {q(week_shift_days)})"
    return f"(date_trunc('week', {wall} + {shift}) - {shift})"


def _breakdown(q: Params, key: str) -> str:
    return f"COALESCE(NULLIF({text(q, key)}, 'null'), {q(NULL)})"


async def first_event(conn: Conn, project_id: int) -> datetime | None:
    """The time of the project's first event; None without events."""
    row = await (await conn.execute(FIRST_EVENT, (project_id,))).fetchone()
    return row[0] if row else None


async def set_timeout(conn: Conn, timeout_ms: int) -> None:
    """Limit the statements of the current transaction to ``timeout_ms``."""
    await conn.execute(SET_TIMEOUT, (str(timeout_ms),))


async def trend_rollup(
    conn: Conn, s: Scope, *, interval: str, tz: str, week_shift_days: int
) -> list[tuple[datetime, str | None, float]]:
    """Total events per bucket from ingest's hourly rollup; ``s`` has an event, no filters, and
    hour-aligned bounds (the caller checks)."""
    q = Params()
    bucket = _bucket(q, interval, tz, week_shift_days, column="h.hour")
    sql = (
        f"SELECT {bucket} AS b, sum(h.count)::float8 AS v FROM analytics.events_hourly_v1 h"
        f" WHERE h.project_id = {q(s.project_id)} AND h.event = {q(s.event)}"
        f" AND h.hour >= {q(s.start)} AND h.hour < {q(s.end)} GROUP BY 1"
    )
    cur = await conn.execute(sql.encode(), q.values)
    return [(r[0], None, float(r[1])) for r in await cur.fetchall()]


async def top_values(conn: Conn, s: Scope, key: str, limit: int) -> list[str]:
    """The breakdown values with the most events, most first (ties by value)."""
    q = Params()
    value = _breakdown(q, key)
    # Ties by value in byte order, whatever the database's collation.
    sql = (
        f"SELECT v, n FROM (SELECT {value} AS v, count(*) AS n FROM {EVENTS}"
        f' WHERE {_where(q, s)} GROUP BY 1) t ORDER BY n DESC, v COLLATE "C" LIMIT {q(limit)}'
    )
    cur = await conn.execute(sql.encode(), q.values)
    return [str(r[0]) for r in await cur.fetchall()]


async def trend(
    conn: Conn,
    s: Scope,
    *,
    interval: str,
    tz: str,
    week_shift_days: int,
    math: str,
    math_property: str | None,
    breakdown: str | None = None,
    kept: list[str] | None = None,
) -> list[tuple[datetime, str | None, float]]:
    """(local bucket start, breakdown value or None, value) per bucket that has events; with a
    breakdown, values outside ``kept`` are one group named :data:`OTHER`."""
    q = Params()
    bucket = _bucket(q, interval, tz, week_shift_days)
    if breakdown is None:
        group = "NULL::text"
    else:
        value = _breakdown(q, breakdown)
        group = f"(CASE WHEN {value} = ANY({q(kept or [])}) THEN {value} ELSE {q(OTHER)} END)"
    agg = aggregate(q, math, math_property)
    joins = MERGES if math in ("dau", "unique_persons") else ""
    sql = (
        f"SELECT {bucket} AS b, {group} AS g, {agg} AS v FROM {EVENTS} {joins}"
        f" WHERE {_where(q, s)} GROUP BY 1, 2"
    )
    cur = await conn.execute(sql.encode(), q.values)
    return [(r[0], r[1], float(r[2])) for r in await cur.fetchall()]


async def funnel_events(
    conn: Conn,
    project_id: int,
    start: datetime,
    end: datetime,
    steps: list[Scope],
    *,
    every_event: bool,
    breakdown: str | None = None,
) -> list[tuple[str, datetime, int, str | None]]:
    """(person, time, bitmask of the steps the event matches, breakdown value) of the events in
    the range, by person and time; only events matching a step unless ``every_event`` (strict
    funnels need the events in between)."""
    q = Params()
    masks = " + ".join(
        f"(CASE WHEN {_step(q, s)} THEN {1 << i} ELSE 0 END)" for i, s in enumerate(steps)
    )
    group = _breakdown(q, breakdown) if breakdown is not None else "NULL::text"
    outer = Scope(project_id, start, end, None, [])
    where = _where(q, outer)
    sql = (
        f'SELECT {PERSON}::text AS pid, e."timestamp" AS t, {masks} AS m, {group} AS g'
        f" FROM {EVENTS} {MERGES} WHERE {where}"
    )
    if not every_event:
        names = [s.event for s in steps]
        if all(n is not None for n in names):
            sql += f" AND e.event = ANY({q(names)})"
    sql += " ORDER BY 1, 2, e.uuid"
    cur = await conn.execute(sql.encode(), q.values)
    return [(r[0], r[1], int(r[2]), r[3]) for r in await cur.fetchall()]


def _step(q: Params, s: Scope) -> str:
    parts = ["true"] if s.event is None else [f"e.event = {q(s.event)}"]
    parts.extend(condition(q, k, op, v) for k, op, v in s.filters)
    return " AND ".join(parts)
