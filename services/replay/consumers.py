"""The replay consumer: a durable pull consumer on ``REPLAY`` that stores recordings exactly once.

Each fetched batch becomes one transaction: lock the batch's sessions, record the snapshots' uuids
(those already recorded were stored by an earlier delivery and are dropped), build and compress
the chunks of the rest, store them (and quarantine what does not decode), recompute the sessions'
metadata. The bus acks the messages only after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import msgspec
import zstandard

from schemas import replay
from services.core.bus import ConsumerSpec, PoisonMessage
from services.replay import chunks, metrics, repo
from services.replay.service import config_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nats.aio.msg import Msg

    from services.core.service import Context

log = logging.getLogger("devflow.replay.consumer")
DURABLE = "replay-recorder"


class Recorder:
    """The replay consumer's handler; compresses chunks at the configured zstd level."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.level = config_of(ctx).zstd_level

    async def handle(self, msgs: Sequence[Msg]) -> None:
        """Store one fetched batch in one transaction; the bus acks it after the commit.

        The batch's sessions are locked first (sorted), so writers of a session queue and each
        metadata refresh sees the chunks committed before it; snapshot uuids are claimed next,
        so a redelivered snapshot is dropped and each is stored once. An undecodable message
        is poison.
        """
        batches: list[replay.SnapshotBatch] = []
        for msg in msgs:
            try:
                batches.append(replay.decode(msg.data))
            except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise PoisonMessage(msg, f"undecodable replay message: {exc}") from None
        snapshots: dict[tuple[int, str, str], replay.Snapshot] = {}
        for batch in batches:
            for snap in batch.snapshots:
                snapshots.setdefault((batch.project_id, snap.session_id, snap.uuid), snap)
        if not snapshots:
            return
        stored = chunks.Prepared()
        async with self.ctx.pool.connection() as conn, conn.transaction():
            await repo.lock_sessions(conn, [(p, s) for p, s, _ in snapshots])
            fresh = await repo.claim_snapshots(conn, list(snapshots))
            by_session: dict[tuple[int, str], list[replay.Snapshot]] = {}
            for key in snapshots:
                if key in fresh:
                    by_session.setdefault(key[:2], []).append(snapshots[key])
            # Decoding and compressing is CPU work: one trip to a thread for the whole batch.
            prepared = await asyncio.to_thread(self._prepare, by_session)
            async with conn.pipeline():
                for (project_id, session_id), one in prepared.items():
                    await repo.insert_chunks(conn, project_id, session_id, one.chunks)
                    if one.rejected:
                        await self._quarantine(conn, project_id, one.rejected)
                    await repo.refresh_session(conn, project_id, session_id)
                    stored.chunks += one.chunks
                    stored.rejected += one.rejected
        # Counted once committed.
        metrics.SNAPSHOTS_DUPLICATE.inc(len(snapshots) - len(fresh))
        metrics.CHUNKS_STORED.inc(len(stored.chunks))
        metrics.RAW_BYTES_STORED.inc(sum(c.raw_bytes for c in stored.chunks))
        metrics.STORED_BYTES.inc(sum(len(c.data) for c in stored.chunks))
        metrics.CHUNKS_QUARANTINED.inc(len(stored.rejected))

    def _prepare(
        self, by_session: dict[tuple[int, str], list[replay.Snapshot]]
    ) -> dict[tuple[int, str], chunks.Prepared]:
        return {key: chunks.prepare(snaps, self.level) for key, snaps in sorted(by_session.items())}

    async def _quarantine(
        self, conn: repo.Conn, project_id: int, rejected: list[chunks.Rejected]
    ) -> None:
        compressor = zstandard.ZstdCompressor(level=3)
        rows = [(r, compressor.compress(bytes(r.snapshot.data))) for r in rejected]
        await repo.insert_quarantine(conn, project_id, rows)
        for r in rejected:
            log.warning(
                "replay snapshot quarantined: %s",
                r.reason,
                extra={
                    "project_id": project_id,
                    "session_id": r.snapshot.session_id,
                    "chunk_id": r.chunk_id,
                },
            )


def consumers(ctx: Context) -> list[ConsumerSpec]:
    """The durable consumer that stores recordings from the ``REPLAY`` stream."""
    recorder = Recorder(ctx)
    return [
        ConsumerSpec(
            stream=replay.STREAM,
            durable=DURABLE,
            filter_subject="replay.>",
            handler=recorder.handle,
            batch=config_of(ctx).fetch_batch,
            max_deliver=ctx.settings.writer_max_deliver,
            ack_wait_s=max(ctx.settings.writer_ack_wait_s, 60.0),
        )
    ]
