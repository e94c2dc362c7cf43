"""SQL of the replay service: chunks, session metadata, quarantine, settings, retention."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg

from schemas.replay import ReplayOut, SessionEvent
from services.replay.chunks import ACTIVITY_CAP_MS, MAX_URLS

if TYPE_CHECKING:
    from services.replay.chunks import Chunk, Rejected

Conn = psycopg.AsyncConnection[Any]

# -- writing -------------------------------------------------------------------------------------

# Writers of one session queue behind each other, so that each one's metadata sees the chunks the
# previous one committed (sessions are locked in sorted order: no deadlocks).
LOCK_SESSIONS = """
SELECT pg_advisory_xact_lock(hashtextextended(k, 7007)) FROM unnest(%s::text[]) AS k ORDER BY k
"""
INSERT_IDS = """
INSERT INTO replay_snapshot_ids (project_id, session_id, uuid)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])
ON CONFLICT DO NOTHING
RETURNING uuid
"""
INSERT_CHUNK = """
INSERT INTO replay_chunks (
    project_id, session_id, chunk_id, window_id, distinct_id, first_ms, last_ms, event_count,
    raw_bytes, size_bytes, first_active_ms, last_active_ms, active_ms, click_count,
    keypress_count, console_error_count, has_full_snapshot, urls, data)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
INSERT_QUARANTINE = """
INSERT INTO replay_quarantine (
    project_id, session_id, chunk_id, distinct_id, "timestamp", reason, data)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
# The metadata row, recomputed from the chunks' summaries. Active time is each chunk's own plus
# the capped gap between a chunk's first activity and the latest activity before it.
REFRESH_SESSION = f"""
WITH c AS (
    SELECT * FROM replay_chunks WHERE project_id = %(project_id)s AND session_id = %(session_id)s
),
agg AS (
    SELECT min(first_ms) AS first_ms, max(last_ms) AS last_ms, count(*) AS chunks,
           coalesce(sum(active_ms), 0) AS inner_active,
           coalesce(sum(click_count), 0) AS clicks, coalesce(sum(keypress_count), 0) AS keys,
           coalesce(sum(console_error_count), 0) AS errors,
           coalesce(sum(size_bytes), 0) AS size, coalesce(sum(raw_bytes), 0) AS raw,
           coalesce(sum(event_count), 0) AS events,
           (array_agg(distinct_id ORDER BY first_ms DESC, chunk_id DESC))[1] AS distinct_id,
           coalesce(array_agg(DISTINCT window_id) FILTER (WHERE window_id IS NOT NULL), '{{}}')
               AS window_ids
    FROM c
),
gaps AS (
    SELECT coalesce(sum(least(greatest(first_active_ms - prev, 0), {ACTIVITY_CAP_MS})), 0) AS ms
    FROM (
        SELECT first_active_ms,
               max(last_active_ms) OVER (ORDER BY first_active_ms, chunk_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev
        FROM c WHERE first_active_ms IS NOT NULL
    ) ordered
    WHERE prev IS NOT NULL
),
u AS (
    SELECT coalesce(array_agg(url ORDER BY k), '{{}}') AS urls FROM (
        SELECT url, min(c.first_ms * 1000 + ord) AS k
        FROM c, unnest(c.urls) WITH ORDINALITY AS t(url, ord)
        GROUP BY url ORDER BY k LIMIT {MAX_URLS}
    ) firsts
),
q AS (
    SELECT count(*) AS n, min("timestamp") AS t0, max("timestamp") AS t1,
           (array_agg(distinct_id ORDER BY "timestamp" DESC))[1] AS distinct_id
    FROM replay_quarantine
    WHERE project_id = %(project_id)s AND session_id = %(session_id)s
)
INSERT INTO replay_sessions AS s (
    project_id, session_id, distinct_id, start_time, end_time, duration_ms, active_ms,
    first_url, urls, click_count, keypress_count, console_error_count, size_bytes, raw_bytes,
    chunk_count, event_count, quarantined_chunks, window_ids, updated_at)
SELECT %(project_id)s, %(session_id)s, coalesce(agg.distinct_id, q.distinct_id),
       coalesce(to_timestamp(agg.first_ms / 1000.0), q.t0),
       coalesce(to_timestamp(agg.last_ms / 1000.0), q.t1),
       coalesce(agg.last_ms - agg.first_ms, 0), agg.inner_active + gaps.ms,
       u.urls[1], u.urls, agg.clicks, agg.keys, agg.errors, agg.size, agg.raw, agg.chunks,
       agg.events, q.n, agg.window_ids, now()
FROM agg, gaps, u, q
WHERE agg.chunks > 0 OR q.n > 0
ON CONFLICT (project_id, session_id) DO UPDATE SET
    distinct_id = EXCLUDED.distinct_id, start_time = EXCLUDED.start_time,
    end_time = EXCLUDED.end_time, duration_ms = EXCLUDED.duration_ms,
    active_ms = EXCLUDED.active_ms, first_url = EXCLUDED.first_url, urls = EXCLUDED.urls,
    click_count = EXCLUDED.click_count, keypress_count = EXCLUDED.keypress_count,
    console_error_count = EXCLUDED.console_error_count, size_bytes = EXCLUDED.size_bytes,
    raw_bytes = EXCLUDED.raw_bytes, chunk_count = EXCLUDED.chunk_count,
    event_count = EXCLUDED.event_count, quarantined_chunks = EXCLUDED.quarantined_chunks,
    window_ids = EXCLUDED.window_ids, updated_at = now()
"""


async def lock_sessions(conn: Conn, keys: list[tuple[int, str]]) -> None:
    """Take each session's transaction-long advisory lock, in sorted order (no deadlocks)."""
    names = sorted({f"{project_id}:{session_id}" for project_id, session_id in keys})
    await conn.execute(LOCK_SESSIONS, (names,))


async def claim_snapshots(
    conn: Conn, rows: list[tuple[int, str, str]]
) -> set[tuple[int, str, str]]:
    """Record ``(project, session, uuid)``s as stored; return those not stored before."""
    if not rows:
        return set()
    projects, sessions, uuids = (list(col) for col in zip(*rows, strict=True))
    cur = await conn.execute(INSERT_IDS, (projects, sessions, uuids))
    fresh = {str(r[0]) for r in await cur.fetchall()}
    return {row for row in rows if row[2] in fresh}


async def insert_chunks(conn: Conn, project_id: int, session_id: str, chunks: list[Chunk]) -> None:
    """Store the session's chunks; one already stored (same chunk id) is left as it is."""
    rows = []
    for c in chunks:
        s = c.summary
        rows.append(
            (
                project_id, session_id, c.chunk_id, c.window_id, c.distinct_id, s.first_ms,
                s.last_ms, s.event_count, c.raw_bytes, len(c.data), s.first_active_ms,
                s.last_active_ms, s.active_ms, s.click_count, s.keypress_count,
                s.console_error_count, s.has_full_snapshot, s.urls, c.data,
            )
        )  # fmt: skip
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(INSERT_CHUNK, rows)


async def insert_quarantine(
    conn: Conn, project_id: int, rejected: list[tuple[Rejected, bytes]]
) -> None:
    """Store rejected snapshots with their reason; ones already stored are left as they are."""
    rows = [
        (
            project_id,
            r.snapshot.session_id,
            r.chunk_id,
            r.distinct_id,
            r.snapshot.timestamp,
            r.reason[:1000],
            data,
        )
        for r, data in rejected
    ]
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(INSERT_QUARANTINE, rows)


async def refresh_session(conn: Conn, project_id: int, session_id: str) -> None:
    """Recompute the session's metadata row from its chunks and quarantined snapshots."""
    await conn.execute(REFRESH_SESSION, {"project_id": project_id, "session_id": session_id})


# -- reading -------------------------------------------------------------------------------------

_COLUMNS = """
s.session_id, s.distinct_id, p.person_id::text, s.start_time, s.end_time, s.duration_ms,
s.active_ms, s.first_url, s.urls, s.click_count, s.keypress_count, s.console_error_count,
s.size_bytes, s.raw_bytes, s.chunk_count, s.event_count, s.quarantined_chunks, s.window_ids
"""
_FROM = """
FROM replay_sessions s
LEFT JOIN analytics.person_distinct_ids_v1 p
    ON p.project_id = s.project_id AND p.distinct_id = s.distinct_id
"""
SELECT_SESSION = f"SELECT {_COLUMNS} {_FROM} WHERE s.project_id = %s AND s.session_id = %s"
SELECT_SESSIONS = f"""
SELECT {_COLUMNS} {_FROM}
WHERE s.project_id = %(project_id)s
  AND (%(distinct_id)s::text IS NULL OR s.distinct_id = %(distinct_id)s)
  AND (%(person_id)s::uuid IS NULL OR p.person_id = %(person_id)s::uuid)
  AND (%(date_from)s::timestamptz IS NULL OR s.start_time >= %(date_from)s)
  AND (%(date_to)s::timestamptz IS NULL OR s.start_time < %(date_to)s)
  AND (%(min_duration_ms)s::bigint IS NULL OR s.duration_ms >= %(min_duration_ms)s)
  AND (%(url_contains)s::text IS NULL OR EXISTS (
        SELECT 1 FROM unnest(s.urls) AS u(url)
        WHERE strpos(lower(u.url), lower(%(url_contains)s)) > 0))
  AND (%(has_console_errors)s::boolean IS NULL
       OR (s.console_error_count > 0) = %(has_console_errors)s)
  AND (%(cursor_time)s::timestamptz IS NULL
       OR (s.start_time, s.session_id) < (%(cursor_time)s, %(cursor_id)s::text))
ORDER BY s.start_time DESC, s.session_id DESC
LIMIT %(limit)s
"""
SELECT_CHUNKS = """
SELECT chunk_id, first_ms, last_ms FROM replay_chunks
WHERE project_id = %(project_id)s AND session_id = %(session_id)s
  AND (%(window_id)s::text IS NULL OR window_id = %(window_id)s)
ORDER BY first_ms, chunk_id
"""
SELECT_CHUNK_DATA = """
SELECT data FROM replay_chunks WHERE project_id = %s AND session_id = %s AND chunk_id = %s
"""
DELETE_SESSION = """
WITH chunks AS (
    DELETE FROM replay_chunks WHERE project_id = %(project_id)s AND session_id = %(session_id)s
), ids AS (
    DELETE FROM replay_snapshot_ids
    WHERE project_id = %(project_id)s AND session_id = %(session_id)s
), quarantined AS (
    DELETE FROM replay_quarantine
    WHERE project_id = %(project_id)s AND session_id = %(session_id)s
)
DELETE FROM replay_sessions WHERE project_id = %(project_id)s AND session_id = %(session_id)s
RETURNING 1
"""
# The session's analytics events, within a day of its recording (clocks differ: the events'
# times are corrected on arrival, rrweb's are the browser's own), so partitions are pruned.
SELECT_SESSION_EVENTS = """
SELECT uuid::text, event, distinct_id, "timestamp", properties FROM analytics.events_v1
WHERE project_id = %(project_id)s
  AND properties ? '$session_id' AND properties ->> '$session_id' = %(session_id)s
  AND "timestamp" BETWEEN %(start)s - INTERVAL '1 day' AND %(end)s + INTERVAL '1 day'
ORDER BY "timestamp", uuid
LIMIT %(limit)s
"""
SELECT_SETTINGS = "SELECT retention_days FROM replay_settings WHERE project_id = %s"
UPSERT_SETTINGS = """
INSERT INTO replay_settings (project_id, retention_days) VALUES (%s, %s)
ON CONFLICT (project_id) DO UPDATE SET retention_days = EXCLUDED.retention_days, updated_at = now()
"""
# Expired sessions, a batch at a time: each project's own retention, else the default.
DELETE_EXPIRED = """
WITH expired AS (
    SELECT s.project_id, s.session_id
    FROM replay_sessions s LEFT JOIN replay_settings r ON r.project_id = s.project_id
    WHERE s.end_time < now() - make_interval(days => coalesce(r.retention_days, %(default)s))
    ORDER BY s.end_time
    LIMIT %(batch)s
), chunks AS (
    DELETE FROM replay_chunks c USING expired e
    WHERE c.project_id = e.project_id AND c.session_id = e.session_id
), ids AS (
    DELETE FROM replay_snapshot_ids i USING expired e
    WHERE i.project_id = e.project_id AND i.session_id = e.session_id
), quarantined AS (
    DELETE FROM replay_quarantine q USING expired e
    WHERE q.project_id = e.project_id AND q.session_id = e.session_id
)
DELETE FROM replay_sessions s USING expired e
WHERE s.project_id = e.project_id AND s.session_id = e.session_id
RETURNING 1
"""


# -- compaction ----------------------------------------------------------------------------------

# Sessions quiet for a while (but not long past) with two chunks of one window, next to each
# other in time, that fit in one merged chunk.
SELECT_COMPACTABLE = """
WITH quiet AS (
    SELECT project_id, session_id FROM replay_sessions
    WHERE chunk_count > 1
      AND updated_at < now() - make_interval(secs => %(quiet_s)s)
      AND updated_at > now() - INTERVAL '2 days'
)
SELECT DISTINCT c.project_id, c.session_id FROM (
    SELECT project_id, session_id, raw_bytes + lag(raw_bytes) OVER (
               PARTITION BY project_id, session_id, window_id ORDER BY first_ms, chunk_id
           ) AS pair
    FROM replay_chunks JOIN quiet USING (project_id, session_id)
) c
WHERE c.pair <= %(target)s
LIMIT %(limit)s
"""
SELECT_CHUNK_ROWS = """
SELECT chunk_id, window_id, distinct_id, first_ms, last_ms, event_count, raw_bytes,
       first_active_ms, last_active_ms, active_ms, click_count, keypress_count,
       console_error_count, has_full_snapshot, urls
FROM replay_chunks WHERE project_id = %s AND session_id = %s
ORDER BY window_id NULLS FIRST, first_ms, chunk_id
"""
DELETE_CHUNKS = """
DELETE FROM replay_chunks WHERE project_id = %s AND session_id = %s AND chunk_id = ANY(%s)
"""


class ChunkRow(msgspec.Struct, frozen=True, array_like=True):
    """A stored chunk's summary columns (no data)."""

    chunk_id: str
    window_id: str | None
    distinct_id: str
    first_ms: int
    last_ms: int
    event_count: int
    raw_bytes: int
    first_active_ms: int | None
    last_active_ms: int | None
    active_ms: int
    click_count: int
    keypress_count: int
    console_error_count: int
    has_full_snapshot: bool
    urls: list[str]


async def select_compactable(
    conn: Conn, quiet_s: float, target: int, limit: int
) -> list[tuple[int, str]]:
    """Up to ``limit`` quiet sessions with two neighbouring chunks of a window within ``target``."""
    params = {"quiet_s": quiet_s, "target": target, "limit": limit}
    rows = await (await conn.execute(SELECT_COMPACTABLE, params)).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


async def select_chunk_rows(conn: Conn, project_id: int, session_id: str) -> list[ChunkRow]:
    """The session's chunk summaries, by window, then time."""
    rows = await (await conn.execute(SELECT_CHUNK_ROWS, (project_id, session_id))).fetchall()
    return [ChunkRow(*r) for r in rows]


async def delete_chunks(conn: Conn, project_id: int, session_id: str, ids: list[str]) -> None:
    """Drop the session's chunks with these ids."""
    await conn.execute(DELETE_CHUNKS, (project_id, session_id, ids))


class ChunkRef(msgspec.Struct, frozen=True, array_like=True):
    """A stored chunk's id and the span of its events (ms)."""

    chunk_id: str
    first_ms: int
    last_ms: int


def _session(row: tuple[Any, ...]) -> ReplayOut:
    return ReplayOut(*row)


async def select_session(conn: Conn, project_id: int, session_id: str) -> ReplayOut | None:
    """The session's metadata with its person; None when it is not recorded."""
    row = await (await conn.execute(SELECT_SESSION, (project_id, session_id))).fetchone()
    return _session(row) if row else None


async def select_sessions(conn: Conn, params: dict[str, Any]) -> list[ReplayOut]:
    """The sessions the list's filters and cursor select, newest first."""
    rows = await (await conn.execute(SELECT_SESSIONS, params)).fetchall()
    return [_session(r) for r in rows]


async def select_chunks(
    conn: Conn, project_id: int, session_id: str, window_id: str | None
) -> list[ChunkRef]:
    """The session's chunks (of one window when given), in time order."""
    params = {"project_id": project_id, "session_id": session_id, "window_id": window_id}
    rows = await (await conn.execute(SELECT_CHUNKS, params)).fetchall()
    return [ChunkRef(*r) for r in rows]


async def select_chunk_data(
    conn: Conn, project_id: int, session_id: str, chunk_id: str
) -> bytes | None:
    """A chunk's stored (compressed) data; None when it is gone."""
    row = await (
        await conn.execute(SELECT_CHUNK_DATA, (project_id, session_id, chunk_id))
    ).fetchone()
    return bytes(row[0]) if row else None


async def delete_session(conn: Conn, project_id: int, session_id: str) -> bool:
    """Drop the session and all stored for it; whether it existed."""
    params = {"project_id": project_id, "session_id": session_id}
    return (await (await conn.execute(DELETE_SESSION, params)).fetchone()) is not None


async def select_session_events(
    conn: Conn, project_id: int, session_id: str, start: datetime, end: datetime, limit: int
) -> list[SessionEvent]:
    """The analytics events with this ``$session_id`` within a day of [start, end]."""
    params = {
        "project_id": project_id,
        "session_id": session_id,
        "start": start,
        "end": end,
        "limit": limit,
    }
    rows = await (await conn.execute(SELECT_SESSION_EVENTS, params)).fetchall()
    return [SessionEvent(*r) for r in rows]


async def select_retention(conn: Conn, project_id: int) -> int | None:
    """The project's retention in days; None when it set none."""
    row = await (await conn.execute(SELECT_SETTINGS, (project_id,))).fetchone()
    return int(row[0]) if row else None


async def upsert_retention(conn: Conn, project_id: int, days: int) -> None:
    """Set the project's retention in days."""
    await conn.execute(UPSERT_SETTINGS, (project_id, days))


async def delete_expired(conn: Conn, default_days: int, batch: int) -> int:
    """Drop up to ``batch`` sessions past their project's retention (else the default); how many."""
    cur = await conn.execute(DELETE_EXPIRED, {"default": default_days, "batch": batch})
    return len(await cur.fetchall())
