"""Background work of the replay service: retention and compaction."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from services.core.jobs import Periodic
from services.replay import compaction, metrics, repo
from services.replay.service import config_of

if TYPE_CHECKING:
    from services.core.service import Context

log = logging.getLogger("devflow.replay.retention")
# Sessions deleted per transaction: short transactions, and the job can stop between batches.
BATCH = 200


async def apply_retention(ctx: Context) -> int:
    """Delete every recording older than its project's retention; return how many."""
    default_days = config_of(ctx).retention_days
    total = 0
    while True:
        async with ctx.pool.connection() as conn, conn.transaction():
            deleted = await repo.delete_expired(conn, default_days, BATCH)
        total += deleted
        if deleted < BATCH:
            break
    if total:
        metrics.SESSIONS_EXPIRED.inc(total)
        log.info("deleted %d expired recordings", total)
    return total


async def _retention(ctx: Context) -> None:
    await apply_retention(ctx)


async def _compaction(ctx: Context) -> None:
    await compaction.compact(ctx)


def periodic(ctx: Context) -> list[Periodic]:
    """The replay service's periodic tasks: retention and compaction."""
    return [
        Periodic(
            name="replay.retention",
            interval_s=config_of(ctx).retention_interval_s,
            fn=_retention,
        ),
        Periodic(
            name="replay.compaction",
            interval_s=config_of(ctx).compact_interval_s,
            fn=_compaction,
        ),
    ]
