"""SQL of the ingest service: staging and storing events, the persons projection, reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import psycopg
from psycopg import sql

Conn = psycopg.AsyncConnection[Any]

# --- writing events -----------------------------------------------------------------------------

# Every candidate row is staged with binary COPY (uuids as text: PostgreSQL parses them faster than
# Python builds UUID objects); the person ids follow in a second COPY once the projection ran.
CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS events_staging (
    seq integer NOT NULL,
    project_id bigint NOT NULL,
    uuid text NOT NULL,
    event text NOT NULL,
    distinct_id text NOT NULL,
    "timestamp" timestamptz NOT NULL,
    properties text NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS events_staging_persons (
    seq integer NOT NULL,
    person_id text NOT NULL
) ON COMMIT DELETE ROWS
"""
COPY_STAGING = """
COPY events_staging (seq, project_id, uuid, event, distinct_id, "timestamp", properties)
FROM STDIN (FORMAT BINARY)
"""
STAGING_TYPES = ["int4", "int8", "text", "text", "text", "timestamptz", "text"]
COPY_PERSONS = "COPY events_staging_persons (seq, person_id) FROM STDIN (FORMAT BINARY)"
PERSONS_TYPES = ["int4", "text"]
# Redelivered batches and client retries carry events we already stored. Their timestamp may differ
# slightly (clock-skew correction uses the time of arrival), so match on uuid within a day.
# (Copies inside one batch are dropped by the writer before staging.)
SELECT_STORED = """
SELECT s.seq FROM events_staging s
WHERE EXISTS (
    SELECT 1 FROM events e
    WHERE e.project_id = s.project_id AND e.uuid = s.uuid::uuid
      AND e."timestamp" BETWEEN s."timestamp" - INTERVAL '1 day'
                            AND s."timestamp" + INTERVAL '1 day'
)
"""
INSERT_EVENTS = """
INSERT INTO events (project_id, uuid, event, distinct_id, person_id, "timestamp", properties)
SELECT s.project_id, s.uuid::uuid, s.event, s.distinct_id, p.person_id::uuid, s."timestamp",
       s.properties::jsonb
FROM events_staging s JOIN events_staging_persons p USING (seq)
ORDER BY s.seq
ON CONFLICT DO NOTHING
"""
# Without TimescaleDB the hourly rollup is a table, kept current with exactly the rows inserted.
INSERT_EVENTS_AND_ROLLUP = f"""
WITH inserted AS ({INSERT_EVENTS} RETURNING project_id, event, "timestamp")
INSERT INTO events_hourly (project_id, event, hour, count)
SELECT project_id, event, date_trunc('hour', "timestamp"), count(*) FROM inserted
GROUP BY 1, 2, 3
ON CONFLICT (project_id, event, hour) DO UPDATE SET count = events_hourly.count + EXCLUDED.count
"""


async def stage(conn: Conn, rows: list[tuple[Any, ...]]) -> set[int]:
    """Stage candidate rows; return the seqs of those already stored (to be skipped)."""
    await conn.execute(CREATE_STAGING)
    async with conn.cursor().copy(COPY_STAGING) as copy:
        copy.set_types(STAGING_TYPES)
        for row in rows:
            await copy.write_row(row)
    cur = await conn.execute(SELECT_STORED)
    return {int(r[0]) for r in await cur.fetchall()}


async def store(conn: Conn, persons: list[tuple[int, str]], *, rollup_table: bool) -> None:
    """Insert the staged rows that have a person (the fresh ones) into ``events``."""
    if not persons:
        return
    async with conn.cursor().copy(COPY_PERSONS) as copy:
        copy.set_types(PERSONS_TYPES)
        for row in persons:
            await copy.write_row(row)
    await conn.execute(INSERT_EVENTS_AND_ROLLUP if rollup_table else INSERT_EVENTS)


# --- partitions (native mode) and retention -----------------------------------------------------

# Identifiers can't be bound parameters: partition DDL is composed with psycopg.sql.
CREATE_PARTITION = sql.SQL(
    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF events FOR VALUES FROM ({start}) TO ({end})"
)
LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = 'events'
"""
DROP_PARTITION = sql.SQL("DROP TABLE IF EXISTS {name}")
# Held while partitions or the retention policy change, so concurrent writers take turns.
PARTITION_LOCK = "SELECT pg_advisory_xact_lock(0x0DEFEE75)"
# TimescaleDB mode: the extension drops expired chunks itself, following this policy.
REMOVE_RETENTION_POLICY = "SELECT remove_retention_policy('events', if_exists => true)"
ADD_RETENTION_POLICY = "SELECT add_retention_policy('events', make_interval(days => %s))"


def create_partition_sql(name: str, start: datetime, end: datetime) -> sql.Composed:
    """``CREATE TABLE … PARTITION OF events`` for the rows from ``start`` up to ``end``."""
    return CREATE_PARTITION.format(
        name=sql.Identifier(name), start=sql.Literal(start), end=sql.Literal(end)
    )


def drop_partition_sql(name: str) -> sql.Composed:
    """``DROP TABLE`` of the partition ``name``."""
    return DROP_PARTITION.format(name=sql.Identifier(name))


async def list_partitions(conn: Conn) -> set[str]:
    """The names of the partitions of ``events`` that exist."""
    cur = await conn.execute(LIST_PARTITIONS)
    return {str(r[0]) for r in await cur.fetchall()}


async def create_partition(conn: Conn, name: str, start: datetime, end: datetime) -> None:
    """Create partition ``name`` of ``events`` for ``[start, end)`` unless it exists."""
    await conn.execute(PARTITION_LOCK)
    await conn.execute(create_partition_sql(name, start, end))


async def drop_partition(conn: Conn, name: str) -> None:
    """Drop partition ``name`` of ``events`` (and its rows) if it exists."""
    await conn.execute(PARTITION_LOCK)
    await conn.execute(drop_partition_sql(name))


async def set_retention_policy(conn: Conn, days: int) -> None:
    """TimescaleDB mode: drop chunks older than ``days`` (never, when 0)."""
    await conn.execute(PARTITION_LOCK)
    await conn.execute(REMOVE_RETENTION_POLICY)
    if days:
        await conn.execute(ADD_RETENTION_POLICY, (days,))


# --- persons -------------------------------------------------------------------------------------


class PersonRow(msgspec.Struct, frozen=True):
    """A distinct id with its person, as loaded for a batch."""

    distinct_id: str
    person_id: str
    properties_json: str
    is_identified: bool
    created_at: datetime
    version: int


LOCK_PERSONS = "SELECT pg_advisory_xact_lock(0x0DEF9E50, %s::int4)"
LOAD_PERSONS = """
SELECT d.distinct_id, p.id::text, p.properties::text, p.is_identified, p.created_at, p.version
FROM person_distinct_ids d JOIN persons p ON p.id = d.person_id
WHERE d.project_id = %s AND d.distinct_id = ANY(%s)
"""
INSERT_PERSONS = """
INSERT INTO persons (id, project_id, properties, is_identified, created_at, version)
SELECT id, %s, props::jsonb, ident, created, 1
FROM unnest(%s::uuid[], %s::text[], %s::bool[], %s::timestamptz[]) AS v(id, props, ident, created)
"""
UPDATE_PERSONS = """
UPDATE persons p SET properties = v.props::jsonb, is_identified = v.ident,
       created_at = v.created, version = p.version + 1
FROM unnest(%s::uuid[], %s::text[], %s::bool[], %s::timestamptz[]) AS v(id, props, ident, created)
WHERE p.id = v.id
"""
UPSERT_DISTINCT_IDS = """
INSERT INTO person_distinct_ids (project_id, distinct_id, person_id)
SELECT %s, d, p FROM unnest(%s::text[], %s::uuid[]) AS v(d, p)
ON CONFLICT (project_id, distinct_id) DO UPDATE SET person_id = EXCLUDED.person_id
"""
MERGE_MOVE_IDS = "UPDATE person_distinct_ids SET person_id = %s WHERE person_id = %s"
MERGE_REPOINT = "UPDATE person_merges SET target_person_id = %s WHERE target_person_id = %s"
MERGE_RECORD = """
INSERT INTO person_merges (project_id, source_person_id, target_person_id) VALUES (%s, %s, %s)
ON CONFLICT (source_person_id) DO UPDATE SET target_person_id = EXCLUDED.target_person_id
"""
MERGE_DELETE = "DELETE FROM persons WHERE id = %s"
DISTINCT_IDS_OF = """
SELECT person_id::text, array_agg(distinct_id ORDER BY distinct_id)
FROM person_distinct_ids WHERE person_id = ANY(%s::uuid[]) GROUP BY person_id
"""
UPSERT_GROUPS = """
INSERT INTO groups (project_id, group_type, group_key, properties)
SELECT %s, t, k, p::jsonb FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(t, k, p)
ON CONFLICT (project_id, group_type, group_key)
DO UPDATE SET properties = groups.properties || EXCLUDED.properties
"""

PersonValues = tuple[str, str, bool, datetime]


async def lock_persons(conn: Conn, project_id: int) -> None:
    """Serialise persons updates of one project across writer processes until commit."""
    await conn.execute(LOCK_PERSONS, (project_id % 2**31,))


async def load_persons(conn: Conn, project_id: int, distinct_ids: list[str]) -> list[PersonRow]:
    """The persons of the given distinct ids (those that have one)."""
    cur = await conn.execute(LOAD_PERSONS, (project_id, distinct_ids))
    return [PersonRow(*row) for row in await cur.fetchall()]


def _columns(rows: list[PersonValues]) -> tuple[list[Any], ...]:
    return tuple(list(col) for col in zip(*rows, strict=True)) if rows else ([], [], [], [])


async def insert_persons(conn: Conn, project_id: int, rows: list[PersonValues]) -> None:
    """Insert new persons at version 1."""
    if rows:
        await conn.execute(INSERT_PERSONS, (project_id, *_columns(rows)))


async def update_persons(conn: Conn, rows: list[PersonValues]) -> None:
    """Write changed persons back, bumping each one's version."""
    if rows:
        await conn.execute(UPDATE_PERSONS, _columns(rows))


async def upsert_distinct_ids(conn: Conn, project_id: int, pairs: list[tuple[str, str]]) -> None:
    """Point each distinct id at its person, adding the new ones."""
    if pairs:
        await conn.execute(
            UPSERT_DISTINCT_IDS, (project_id, [d for d, _ in pairs], [p for _, p in pairs])
        )


async def record_merges(conn: Conn, project_id: int, merges: list[tuple[str, str]]) -> None:
    """Move each merged-away person's ids to its target, record the merge, delete it.

    Earlier merges into the source are re-pointed too, so every recorded source names the
    final survivor (reads join events to their person through ``person_merges``).
    """
    for source, target in merges:
        await conn.execute(MERGE_MOVE_IDS, (target, source))
        await conn.execute(MERGE_REPOINT, (target, source))
        await conn.execute(MERGE_RECORD, (project_id, source, target))
        await conn.execute(MERGE_DELETE, (source,))


async def distinct_ids_of(conn: Conn, person_ids: list[str]) -> dict[str, list[str]]:
    """Every distinct id of each person, sorted."""
    cur = await conn.execute(DISTINCT_IDS_OF, (person_ids,))
    return {str(pid): list(ids) for pid, ids in await cur.fetchall()}


async def upsert_groups(conn: Conn, project_id: int, rows: list[tuple[str, str, str]]) -> None:
    """Create groups or merge the new properties into theirs."""
    await conn.execute(
        UPSERT_GROUPS,
        (project_id, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )


# --- reads ---------------------------------------------------------------------------------------

SELECT_EVENTS = """
SELECT e.uuid::text, e.event, e.distinct_id,
       COALESCE(m.target_person_id, e.person_id)::text, e."timestamp", e.properties
FROM events e
LEFT JOIN person_merges m ON m.source_person_id = e.person_id
WHERE e.project_id = %(project_id)s
  AND (%(event)s::text IS NULL OR e.event = %(event)s)
  AND (%(distinct_id)s::text IS NULL OR e.distinct_id = %(distinct_id)s)
  AND (%(after)s::timestamptz IS NULL OR e."timestamp" >= %(after)s)
  AND (%(before)s::timestamptz IS NULL OR e."timestamp" < %(before)s)
  AND (%(cursor_ts)s::timestamptz IS NULL
       OR (e."timestamp", e.uuid) < (%(cursor_ts)s, %(cursor_uuid)s::uuid))
ORDER BY e."timestamp" DESC, e.uuid DESC
LIMIT %(limit)s
"""
SELECT_PERSON = """
SELECT p.id::text, p.properties, p.created_at,
       (SELECT array_agg(d2.distinct_id ORDER BY d2.distinct_id)
        FROM person_distinct_ids d2 WHERE d2.person_id = p.id)
FROM person_distinct_ids d JOIN persons p ON p.id = d.person_id
WHERE d.project_id = %s AND d.distinct_id = %s
"""


class EventRow(msgspec.Struct, frozen=True, array_like=True):
    """An event as read back; ``person_id`` is the surviving person after merges."""

    uuid: str
    event: str
    distinct_id: str
    person_id: str | None
    timestamp: datetime
    properties: dict[str, Any]


async def select_events(conn: Conn, params: dict[str, Any]) -> list[EventRow]:
    """The events matching ``params`` (see ``SELECT_EVENTS``), newest first."""
    cur = await conn.execute(SELECT_EVENTS, params)
    return [EventRow(*row) for row in await cur.fetchall()]


async def select_person(
    conn: Conn, project_id: int, distinct_id: str
) -> tuple[str, dict[str, Any], datetime, list[str]] | None:
    """The person of a distinct id: id, properties, creation time and all its distinct ids."""
    cur = await conn.execute(SELECT_PERSON, (project_id, distinct_id))
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1], row[2], list(row[3] or []))
