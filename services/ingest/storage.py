"""Storage upkeep for ``events``: daily partitions ahead of time and retention.

With TimescaleDB, chunks, compression and the rollup are the extension's jobs and retention is a
policy set here from ``DEVFLOW_EVENTS_RETENTION_DAYS``. Without it, this module creates the daily
partitions (ahead of time, and on demand for late or back-filled events) and drops expired ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from services.ingest import repo
from services.ingest.config import IngestConfig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from services.core.service import Context

log = logging.getLogger("devflow.ingest.storage")
TIMESCALE = "timescaledb"
MAINTENANCE_INTERVAL_S = 3600.0


def partition_name(day: date) -> str:
    return f"events_p{day:%Y%m%d}"


class Partitions:
    """Knows which daily partitions exist and creates the missing ones (native mode only)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.enabled = ctx.storage_mode != TIMESCALE
        self.known: set[str] = set()

    async def refresh(self) -> None:
        async with self.ctx.pool.connection() as conn:
            self.known = await repo.list_partitions(conn)

    async def ensure(self, days: Iterable[date]) -> None:
        if not self.enabled:
            return
        missing = sorted({d for d in days if partition_name(d) not in self.known})
        if not missing:
            return
        # Own transaction: DDL must not hold locks inside the writer's batch transaction.
        async with self.ctx.pool.connection() as conn:
            for day in missing:
                nxt = day + timedelta(days=1)
                await repo.create_partition(conn, partition_name(day), str(day), str(nxt))
                await conn.commit()
                self.known.add(partition_name(day))

    async def maintain(self) -> None:
        """Create today's and the next days' partitions; drop those past retention."""
        today = datetime.now(UTC).date()
        await self.refresh()
        ahead = self.ctx.settings_of(IngestConfig).partitions_ahead_days
        await self.ensure(today + timedelta(days=i) for i in range(-1, ahead + 1))
        retention = self.ctx.settings_of(IngestConfig).events_retention_days
        if retention and self.enabled:
            cutoff = partition_name(today - timedelta(days=retention))
            async with self.ctx.pool.connection() as conn:
                for name in sorted(self.known):
                    if name < cutoff:
                        await repo.drop_partition(conn, name)
                        await conn.commit()
                        self.known.discard(name)
                        log.info("dropped expired partition %s", name)


async def apply_timescale_retention(ctx: Context) -> None:
    days = ctx.settings_of(IngestConfig).events_retention_days
    async with ctx.pool.connection() as conn:
        # Several writers may start together; one at a time replaces the policy.
        await conn.execute(repo.PARTITION_LOCK)
        await conn.execute("SELECT remove_retention_policy('events', if_exists => true)")
        if days:
            await conn.execute(
                "SELECT add_retention_policy('events', make_interval(days => %s))", (days,)
            )


@contextlib.asynccontextmanager
async def maintenance(ctx: Context, partitions: Partitions) -> AsyncIterator[None]:
    """Run upkeep at start and hourly while the service runs (workers only)."""
    if ctx.storage_mode == TIMESCALE:
        await apply_timescale_retention(ctx)
        yield
        return
    await partitions.maintain()

    async def loop() -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL_S)
            try:
                await partitions.maintain()
            except Exception:
                log.exception("partition maintenance failed; retrying in an hour")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
