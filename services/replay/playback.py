"""Reading a recording back: its chunks' events in timestamp order, streamed.

``GET …/snapshots`` writes ``{"events": [`` and then each chunk's events as they come out of the
database, one chunk at a time, so a long session never sits whole in memory. A chunk that starts
after every event already loaded (the usual case: one window, chunks in sequence) is copied out
as stored without parsing; chunks that overlap in time (two windows recording at once) are merged
event by event. A chunk that no longer decodes is skipped, logged and counted.
"""

from __future__ import annotations

import heapq
import logging
from typing import TYPE_CHECKING

import zstandard

from services.replay import chunks, metrics, repo, service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from services.core.service import Context

log = logging.getLogger("devflow.replay.playback")
MAX_CHUNK_BYTES = 256 * 1024 * 1024


async def stream(
    ctx: Context, project_id: int, session_id: str, window_id: str | None
) -> AsyncIterator[bytes]:
    """The body's pieces; raises :class:`ReplayNotFound` first when there is no such session."""
    await service.get_replay(ctx, project_id, session_id)
    return events_json(ctx, project_id, session_id, window_id)


async def _load(conn: repo.Conn, project_id: int, session_id: str, chunk_id: str) -> bytes | None:
    data = await repo.select_chunk_data(conn, project_id, session_id, chunk_id)
    if data is None:
        return None
    try:
        body = zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_CHUNK_BYTES)
    except zstandard.ZstdError as exc:
        _unreadable(project_id, session_id, chunk_id, f"zstd: {exc}")
        return None
    if body[:1] != b"[" or body[-1:] != b"]":
        _unreadable(project_id, session_id, chunk_id, "not a JSON array")
        return None
    return body


def _unreadable(project_id: int, session_id: str, chunk_id: str, reason: str) -> None:
    metrics.CHUNKS_UNREADABLE.inc()
    log.error(
        "replay chunk skipped: %s",
        reason,
        extra={"project_id": project_id, "session_id": session_id, "chunk_id": chunk_id},
    )


async def events_json(
    ctx: Context, project_id: int, session_id: str, window_id: str | None
) -> AsyncIterator[bytes]:
    """The body ``{"events": [...]}``, piece by piece, from one snapshot of the database."""
    yield b'{"events":['
    # One REPEATABLE READ transaction: compaction or a delete committed meanwhile is not seen
    # half-way (the chunks listed are the chunks read).
    async with ctx.pool.connection() as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        refs = await repo.select_chunks(conn, project_id, session_id, window_id)
        first = True
        pending: list[tuple[int, int, bytes]] = []  # (timestamp, order, event) of overlaps
        order = 0
        for i, ref in enumerate(refs):
            next_start = refs[i + 1].first_ms if i + 1 < len(refs) else None
            body = await _load(conn, project_id, session_id, ref.chunk_id)
            out: list[bytes] = []
            if (
                body is not None
                and not pending
                and (next_start is None or ref.last_ms <= next_start)
            ):
                inner = body[1:-1].strip()
                if inner:
                    out.append(inner)
            else:
                if body is not None:
                    try:
                        timed = chunks.timed_events(body)
                    except chunks.Invalid as exc:
                        _unreadable(project_id, session_id, ref.chunk_id, str(exc))
                        timed = []
                    for ts, raw in timed:
                        heapq.heappush(pending, (ts, order, raw))
                        order += 1
                while pending and (next_start is None or pending[0][0] < next_start):
                    out.append(heapq.heappop(pending)[2])
            if out:
                piece = b",".join(out)
                yield piece if first else b"," + piece
                first = False
    yield b"]}"
