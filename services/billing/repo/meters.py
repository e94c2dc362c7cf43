"""SQL of meters and usage reports. Usage is read from ingest's read contract
(``analytics.events_v1``), never from its tables."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from services.billing.repo._conn import Conn


class MeterRow(msgspec.Struct, frozen=True):
    id: int
    project_id: int
    event: str
    aggregation: str
    property: str | None
    stripe_event_name: str
    window_s: int
    starts_at: datetime
    created_at: datetime


class ReportRow(msgspec.Struct, frozen=True):
    customer_id: str
    window_start: datetime
    seq: int
    value: float
    identifier: str


class UsageRow(msgspec.Struct, frozen=True):
    meter_id: int
    status: str
    reports: int
    value: float
    last_error: str | None


_METER = """
id, project_id, event, aggregation, property, stripe_event_name, window_s, starts_at, created_at
"""
INSERT_METER = f"""
INSERT INTO billing_meters
    (project_id, event, aggregation, property, stripe_event_name, window_s, starts_at)
VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, now())) RETURNING {_METER}
"""
SELECT_METERS = f"SELECT {_METER} FROM billing_meters WHERE project_id = %s ORDER BY id"
SELECT_ALL_METERS = f"SELECT {_METER} FROM billing_meters ORDER BY project_id, id"
# One reporter per meter at a time (a periodic run, the API's, the CLI's).
LOCK_METER = "SELECT pg_try_advisory_xact_lock(hashtextextended('billing.meter', %s))"

# The meter's usage per linked customer and closed window since ``since``. A customer is
# linked by metadata[distinct_id_field], or by its checkout session's client_reference_id when
# the project enables that; a sum ignores values that are not JSON numbers.
SELECT_USAGE = """
WITH settings AS (
    SELECT coalesce(max(distinct_id_field), 'distinct_id') AS field,
           coalesce(bool_or(use_client_reference_id), false) AS by_checkout
    FROM billing_settings WHERE project_id = %(project_id)s
), links AS (
    SELECT c.metadata ->> s.field AS distinct_id, c.id AS customer_id
    FROM billing_customers c, settings s
    WHERE c.project_id = %(project_id)s AND NOT c.deleted AND c.metadata ->> s.field IS NOT NULL
    UNION
    SELECT l.client_reference_id, l.customer_id
    FROM billing_checkout_links l, settings s
    WHERE l.project_id = %(project_id)s AND s.by_checkout
)
SELECT l.customer_id,
       date_bin(make_interval(secs => %(window_s)s), e."timestamp", 'epoch'::timestamptz) AS w,
       CASE WHEN %(sum)s THEN coalesce(sum(CASE WHEN jsonb_typeof(e.properties -> %(property)s)
                                                = 'number'
                                           THEN (e.properties ->> %(property)s)::float8 END), 0)
            ELSE count(*)::float8 END
FROM analytics.events_v1 e JOIN links l ON l.distinct_id = e.distinct_id
WHERE e.project_id = %(project_id)s AND e.event = %(event)s
  AND e."timestamp" >= %(since)s AND e."timestamp" < %(until)s
GROUP BY 1, 2
"""
SELECT_REPORTED = """
SELECT customer_id, window_start, sum(value), max(seq) FROM usage_reports
WHERE meter_id = %s AND window_start >= %s AND status <> 'failed'
GROUP BY 1, 2
"""
INSERT_REPORT = """
INSERT INTO usage_reports
    (project_id, meter_id, customer_id, window_start, seq, value, identifier, status)
VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending')
ON CONFLICT DO NOTHING
"""
SELECT_PENDING = """
SELECT customer_id, window_start, seq, value, identifier FROM usage_reports
WHERE meter_id = %s AND status = 'pending' ORDER BY window_start, customer_id, seq
"""
MARK_REPORTED = """
UPDATE usage_reports SET status = 'reported', reported_at = now(), attempts = attempts + 1,
    error = NULL
WHERE identifier = %s
"""
MARK_ATTEMPT = """
UPDATE usage_reports SET status = %s, attempts = attempts + 1, error = %s WHERE identifier = %s
"""
SELECT_METER_USAGE = """
SELECT meter_id, status, count(*), coalesce(sum(value), 0),
       (array_agg(error ORDER BY created_at DESC) FILTER (WHERE error IS NOT NULL))[1]
FROM usage_reports WHERE project_id = %s GROUP BY 1, 2 ORDER BY 1, 2
"""


async def insert_meter(
    conn: Conn,
    project_id: int,
    event: str,
    aggregation: str,
    prop: str | None,
    stripe_event_name: str,
    window_s: int,
    starts_at: datetime | None,
) -> MeterRow:
    values = (project_id, event, aggregation, prop, stripe_event_name, window_s, starts_at)
    row = await (await conn.execute(INSERT_METER, values)).fetchone()
    assert row is not None
    return MeterRow(*row)


async def select_meters(conn: Conn, project_id: int | None) -> list[MeterRow]:
    if project_id is None:
        cur = await conn.execute(SELECT_ALL_METERS)
    else:
        cur = await conn.execute(SELECT_METERS, (project_id,))
    return [MeterRow(*r) for r in await cur.fetchall()]


async def try_lock(conn: Conn, meter_id: int) -> bool:
    row = await (await conn.execute(LOCK_METER, (meter_id,))).fetchone()
    return bool(row and row[0])


async def select_usage(
    conn: Conn, meter: MeterRow, since: datetime, until: datetime
) -> dict[tuple[str, datetime], float]:
    params = {
        "project_id": meter.project_id,
        "window_s": meter.window_s,
        "sum": meter.aggregation == "sum",
        "property": meter.property or "",
        "event": meter.event,
        "since": since,
        "until": until,
    }
    cur = await conn.execute(SELECT_USAGE, params)
    return {(str(r[0]), r[1]): float(r[2]) for r in await cur.fetchall()}


async def select_reported(
    conn: Conn, meter_id: int, since: datetime
) -> dict[tuple[str, datetime], tuple[float, int]]:
    cur = await conn.execute(SELECT_REPORTED, (meter_id, since))
    return {(str(r[0]), r[1]): (float(r[2]), int(r[3])) for r in await cur.fetchall()}


async def insert_report(conn: Conn, meter: MeterRow, report: ReportRow) -> None:
    await conn.execute(
        INSERT_REPORT,
        (
            meter.project_id,
            meter.id,
            report.customer_id,
            report.window_start,
            report.seq,
            report.value,
            report.identifier,
        ),
    )


async def select_pending(conn: Conn, meter_id: int) -> list[ReportRow]:
    cur = await conn.execute(SELECT_PENDING, (meter_id,))
    return [ReportRow(*r) for r in await cur.fetchall()]


async def mark_reported(conn: Conn, identifier: str) -> None:
    await conn.execute(MARK_REPORTED, (identifier,))


async def mark_attempt(conn: Conn, identifier: str, status: str, error: str) -> None:
    await conn.execute(MARK_ATTEMPT, (status, error[:1000], identifier))


async def select_meter_usage(conn: Conn, project_id: int) -> list[UsageRow]:
    cur = await conn.execute(SELECT_METER_USAGE, (project_id,))
    return [UsageRow(*r) for r in await cur.fetchall()]
