"""SQL of ``experiment_people`` (one row per counted person), its state and the per-variant, per
day sums in ``experiment_sums``; see ``services.experiments.people`` for the refresh itself.

The moments' SQL depends on the plan's width, so it is composed here: only column numbers and
the constant fragments below are part of its text, every value is a bound parameter.
"""

from __future__ import annotations

from datetime import date, datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING

import msgspec

from services.experiments.repo import events

if TYPE_CHECKING:
    from services.experiments.metrics import Column, Scope
    from services.experiments.repo import Conn

_LOCK_CLASS = 0x45585050  # "EXPP": advisory lock namespace of experiment_people refreshes
LOCK = "SELECT pg_advisory_xact_lock(%s::bigint)"
# The start of the oldest client transaction open now (or now), and whether some session's
# transaction start is hidden from this role.
WATERMARK = """
SELECT least(now(), min(xact_start)), bool_or(state IS NULL)
FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'
"""
SELECT_STATE = """
SELECT layout, watermark, data_until, people FROM experiment_people_state
WHERE experiment_id = %s
"""
UPSERT_STATE = """
INSERT INTO experiment_people_state
    (experiment_id, layout, watermark, data_until, people, built_at, refreshed_at)
VALUES (%(id)s, %(layout)s, %(watermark)s, %(until)s, %(people)s, clock_timestamp(),
        clock_timestamp())
ON CONFLICT (experiment_id) DO UPDATE SET
    layout = EXCLUDED.layout, watermark = EXCLUDED.watermark, data_until = EXCLUDED.data_until,
    people = EXCLUDED.people, refreshed_at = EXCLUDED.refreshed_at,
    built_at = CASE WHEN %(full)s THEN EXCLUDED.built_at
               ELSE experiment_people_state.built_at END
"""
DELETE_ALL = "DELETE FROM experiment_people WHERE experiment_id = %s"
DELETE_SUMS = "DELETE FROM experiment_sums WHERE experiment_id = %s"
# Adds the moments of the people rows in the CTE named by {rows}, times {sign}, per variant and
# day (the {} slots take only the constants of _insert/_remove and _moments' text).
ADD_MOMENTS = """
INSERT INTO experiment_sums (experiment_id, variant, day, k, value)
SELECT %(id)s, g.variant, g.day, u.k - 1, {sign} * COALESCE(u.v, 0)
FROM (SELECT variant, (first_at AT TIME ZONE 'UTC')::date AS day, {moments} AS m
      FROM {rows} GROUP BY 1, 2) g
CROSS JOIN LATERAL unnest(g.m) WITH ORDINALITY AS u(v, k)
ON CONFLICT (experiment_id, variant, day, k)
DO UPDATE SET value = experiment_sums.value + EXCLUDED.value
RETURNING 1"""
INSERT_PEOPLE = """
WITH added AS (
    INSERT INTO experiment_people (experiment_id, person_id, variant, first_at, vals)
    SELECT %(id)s, s.* FROM ({select}) s
    RETURNING variant, first_at, vals
), summed AS ({summed})
SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM summed)
"""
REMOVE_TOUCHED = """
WITH gone AS (
    DELETE FROM experiment_people
    WHERE experiment_id = %(id)s AND person_id IN (SELECT person_id FROM touched)
    RETURNING variant, first_at, vals
), summed AS ({summed})
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM summed)
"""
SELECT_SUMS = """
SELECT variant, k, sum(value) FROM experiment_sums WHERE experiment_id = %s
GROUP BY variant, k ORDER BY variant, k
"""
SELECT_DAILY = """
SELECT variant, day, k, value FROM experiment_sums
WHERE experiment_id = %s AND k = ANY(%s) ORDER BY day
"""


class PeopleState(msgspec.Struct, frozen=True):
    """An experiment's rows were computed with ``layout`` (the plan's fingerprint) up to
    ``data_until`` from the events inserted before ``watermark``."""

    layout: str
    watermark: datetime
    data_until: datetime
    people: int


async def lock(conn: Conn, experiment_id: int) -> None:
    """Serialise refreshes of one experiment, to the end of the transaction."""
    await conn.execute(LOCK, ((_LOCK_CLASS << 32) | (experiment_id & 0xFFFFFFFF),))


async def watermark(conn: Conn) -> tuple[datetime, bool]:
    """The start of the oldest open transaction, and whether some are hidden from us."""
    row = await (await conn.execute(WATERMARK)).fetchone()
    assert row is not None
    return row[0], bool(row[1])


async def select_state(conn: Conn, experiment_id: int) -> PeopleState | None:
    """The state of the experiment's rows; None before their first build."""
    row = await (await conn.execute(SELECT_STATE, (experiment_id,))).fetchone()
    return PeopleState(*row) if row else None


async def upsert_state(conn: Conn, experiment_id: int, state: PeopleState, *, full: bool) -> None:
    """Record the rows' state; ``built_at`` moves only on a full build."""
    await conn.execute(
        UPSERT_STATE,
        {
            "id": experiment_id,
            "layout": state.layout,
            "watermark": state.watermark,
            "until": state.data_until,
            "people": state.people,
            "full": full,
        },
    )


async def delete_all(conn: Conn, experiment_id: int) -> None:
    """Remove every row and sum of the experiment."""
    await conn.execute(DELETE_ALL, (experiment_id,))
    await conn.execute(DELETE_SUMS, (experiment_id,))


def _moments(width: int, products: list[tuple[int, int]]) -> str:
    """The moment vector of a group of rows: count, per column sum and sum of squares, then the
    cross products (only column numbers are interpolated)."""
    parts = ["count(*)::float8"]
    for i in range(1, width + 1):
        parts += [f"sum(vals[{i}])", f"sum(vals[{i}] * vals[{i}])"]
    parts += [f"sum(vals[{a + 1}] * vals[{b + 1}])" for a, b in products]
    return f"ARRAY[{', '.join(parts)}]"


async def insert_people(
    conn: Conn,
    experiment_id: int,
    scope: Scope,
    columns: list[Column],
    products: list[tuple[int, int]],
    *,
    merges: bool,
    pre_start: datetime | None,
    touched: bool,
) -> int:
    """Compute and insert the exposed people's rows and add their moments; returns the rows."""
    q = events.Query()
    select = events.people_select(
        q, scope, columns, merges=merges, pre_start=pre_start, touched=touched
    )
    summed = ADD_MOMENTS.format(sign="1.0", moments=_moments(len(columns), products), rows="added")
    sql = INSERT_PEOPLE.format(select=select, summed=summed)
    row = await (await conn.execute(sql, {**q.params, "id": experiment_id})).fetchone()
    return int(row[0]) if row else 0


async def remove_touched(
    conn: Conn, experiment_id: int, width: int, products: list[tuple[int, int]]
) -> int:
    """Delete the touched people's rows and subtract their moments; returns the rows."""
    summed = ADD_MOMENTS.format(sign="-1.0", moments=_moments(width, products), rows="gone")
    sql = REMOVE_TOUCHED.format(summed=summed)
    row = await (await conn.execute(sql, {"id": experiment_id})).fetchone()
    return int(row[0]) if row else 0


async def select_sums(conn: Conn, experiment_id: int) -> list[tuple[str, int, float]]:
    """(variant, moment number, value) summed over the days."""
    rows = await (await conn.execute(SELECT_SUMS, (experiment_id,))).fetchall()
    return [(str(v), int(k), float(value or 0)) for v, k, value in rows]


async def select_daily(
    conn: Conn, experiment_id: int, ks: list[int]
) -> list[tuple[str, date, int, float]]:
    """(variant, day, moment number, value) of the moments ``ks``, by day."""
    rows = await (await conn.execute(SELECT_DAILY, (experiment_id, ks))).fetchall()
    return [(str(v), day, int(k), float(value)) for v, day, k, value in rows]
