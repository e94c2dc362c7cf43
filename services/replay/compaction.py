"""Compaction: a session's small chunks merged into large ones once it has gone quiet.

Browsers send a few seconds of recording per request, so fresh chunks are small, and zstd finds
little to reuse inside a few kilobytes (about 8x on rrweb data). Merged, a window's chunks
compress as one stream (14-15x). The compaction job takes sessions whose last chunk is older
than ``compact_after_s``, and per window concatenates runs of consecutive chunks, in time order,
up to :data:`TARGET_RAW_BYTES` each, into one chunk. The merged chunk's summary is the sum of its
parts' (activity gaps across the joins are added as the metadata query adds them), so no
metadata changes. It runs under the session's lock, in one transaction: the consumer and
the session's deletion wait for it, and readers see the old chunks or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import zstandard

from services.replay import chunks, metrics, repo
from services.replay.chunks import ACTIVITY_CAP_MS, MAX_URLS, Summary
from services.replay.service import config_of

if TYPE_CHECKING:
    from services.core.service import Context

log = logging.getLogger("devflow.replay.compaction")
TARGET_RAW_BYTES = 4 * 1024 * 1024
MAX_CHUNK_BYTES = 256 * 1024 * 1024
SESSIONS_PER_RUN = 50


@dataclass
class _Part:
    row: repo.ChunkRow
    body: bytes


def _merge(parts: list[_Part], level: int) -> chunks.Chunk:
    """One chunk from consecutive chunks of one window (sorted by first timestamp)."""
    overlapping = any(b.row.first_ms < a.row.last_ms for a, b in itertools.pairwise(parts))
    if overlapping:
        timed = [e for p in parts for e in chunks.timed_events(p.body)]
        timed.sort(key=lambda e: e[0])
        body = b"[" + b",".join(raw for _, raw in timed) + b"]"
    else:
        inner = [p.body[1:-1].strip() for p in parts]
        body = b"[" + b",".join(i for i in inner if i) + b"]"
    s = Summary(
        first_ms=min(p.row.first_ms for p in parts), last_ms=max(p.row.last_ms for p in parts)
    )
    last_active: int | None = None
    for p in parts:
        r = p.row
        s.event_count += r.event_count
        s.click_count += r.click_count
        s.keypress_count += r.keypress_count
        s.console_error_count += r.console_error_count
        s.has_full_snapshot = s.has_full_snapshot or r.has_full_snapshot
        for url in r.urls:
            if url not in s.urls and len(s.urls) < MAX_URLS:
                s.urls.append(url)
        if r.first_active_ms is None or r.last_active_ms is None:
            continue
        s.active_ms += r.active_ms
        if last_active is not None:
            s.active_ms += min(max(r.first_active_ms - last_active, 0), ACTIVITY_CAP_MS)
        else:
            s.first_active_ms = r.first_active_ms
        last_active = max(last_active or r.last_active_ms, r.last_active_ms)
    s.last_active_ms = last_active
    return chunks.Chunk(
        chunk_id="c-" + parts[0].row.chunk_id,
        window_id=parts[0].row.window_id,
        distinct_id=parts[-1].row.distinct_id,
        summary=s,
        # The JSON received, as the parts counted it (the merged array has fewer brackets).
        raw_bytes=sum(p.row.raw_bytes for p in parts),
        data=zstandard.ZstdCompressor(level=level).compress(body),
    )


def _runs(rows: list[repo.ChunkRow]) -> list[list[repo.ChunkRow]]:
    """Consecutive chunks of each window worth merging, up to the target size each."""
    runs: list[list[repo.ChunkRow]] = []
    current: list[repo.ChunkRow] = []
    size = 0
    for row in rows:  # ordered by window, then time
        fits = current and current[-1].window_id == row.window_id
        if not fits or size + row.raw_bytes > TARGET_RAW_BYTES:
            if len(current) > 1:
                runs.append(current)
            current, size = [], 0
        current.append(row)
        size += row.raw_bytes
    if len(current) > 1:
        runs.append(current)
    return runs


async def compact_session(ctx: Context, project_id: int, session_id: str) -> int:
    """Merge the session's small chunks; return how many chunks were replaced."""
    level = config_of(ctx).zstd_level
    replaced = 0
    async with ctx.pool.connection() as conn, conn.transaction():
        await repo.lock_sessions(conn, [(project_id, session_id)])
        rows = await repo.select_chunk_rows(conn, project_id, session_id)
        for run in _runs(rows):
            parts: list[_Part] = []
            for row in run:
                data = await repo.select_chunk_data(conn, project_id, session_id, row.chunk_id)
                try:
                    body = zstandard.ZstdDecompressor().decompress(
                        data or b"", max_output_size=MAX_CHUNK_BYTES
                    )
                except zstandard.ZstdError:
                    body = b""
                if body[:1] != b"[":
                    # Unreadable: left alone (playback skips it, the log says so).
                    parts = []
                    break
                parts.append(_Part(row, body))
            if len(parts) < 2:
                continue
            merged = await asyncio.to_thread(_merge, parts, level)
            await repo.delete_chunks(conn, project_id, session_id, [p.row.chunk_id for p in parts])
            await repo.insert_chunks(conn, project_id, session_id, [merged])
            replaced += len(parts)
        if replaced:
            await repo.refresh_session(conn, project_id, session_id)
    return replaced


async def compact(ctx: Context) -> int:
    """One run of the job: quiet sessions with small chunks, oldest first."""
    quiet_s = config_of(ctx).compact_after_s
    async with ctx.pool.connection() as conn:
        due = await repo.select_compactable(conn, quiet_s, TARGET_RAW_BYTES, SESSIONS_PER_RUN)
    total = 0
    for project_id, session_id in due:
        total += await compact_session(ctx, project_id, session_id)
    if total:
        metrics.CHUNKS_COMPACTED.inc(total)
        log.info("compacted %d chunks of %d sessions", total, len(due))
    return total
