"""Storage upkeep for ``events``: daily partitions ahead of time and retention.

With TimescaleDB, chunks, compression and the rollup are the extension's jobs and retention is a
policy set at start-up from ``DEVFLOW_EVENTS_RETENTION_DAYS``. Without it, this module creates the
daily partitions (ahead of time, and on demand for late or back-filled events) and drops expired
ones: once when a writer starts, before it consumes, then hourly as the periodic job
``ingest.upkeep`` (:mod:`services.ingest.tasks`). The hourly rollup needs no upkeep: natively the
writer adds exactly the rows it inserts.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from services.ingest import repo
from services.ingest.config import IngestConfig

if TYPE_CHECKING:
    from collections.abc import Iterable

    from services.core.service import Context

log = logging.getLogger("devflow.ingest.storage")
TIMESCALE = "timescaledb"


def partition_name(day: date) -> str:
    """The name of the partition holding ``day``'s events (UTC)."""
    return f"events_p{day:%Y%m%d}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


class Partitions:
    """Knows which daily partitions exist and creates the missing ones (native mode only)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.enabled = ctx.storage_mode != TIMESCALE
        self.known: set[str] = set()

    async def refresh(self) -> None:
        """Re-read which partitions exist."""
        async with self.ctx.pool.connection() as conn:
            self.known = await repo.list_partitions(conn)

    def _expired_before(self) -> date | None:
        retention = self.ctx.settings_of(IngestConfig).events_retention_days
        return datetime.now(UTC).date() - timedelta(days=retention) if retention else None

    async def ensure(self, days: Iterable[date]) -> None:
        """Create the partitions of ``days`` that do not exist yet."""
        if not self.enabled:
            return
        # Upkeep runs in one process only and may have dropped an expired day's partition since
        # this one looked: for those days, ask PostgreSQL (CREATE … IF NOT EXISTS) every time.
        expired_before = self._expired_before()
        missing = sorted(
            {
                d
                for d in days
                if partition_name(d) not in self.known
                or (expired_before is not None and d < expired_before)
            }
        )
        if not missing:
            return
        # Own transaction: DDL must not hold locks inside the writer's batch transaction.
        async with self.ctx.pool.connection() as conn:
            for day in missing:
                start, end = _midnight(day), _midnight(day + timedelta(days=1))
                await repo.create_partition(conn, partition_name(day), start, end)
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


def partitions_of(ctx: Context) -> Partitions:
    """The process's one view of the partitions, shared by the writer and upkeep (so the writer
    sees at once what upkeep in this process drops)."""
    return ctx.state_or(Partitions, lambda: Partitions(ctx))


async def apply_timescale_retention(ctx: Context) -> None:
    """Set TimescaleDB's retention policy on ``events`` from the settings."""
    days = ctx.settings_of(IngestConfig).events_retention_days
    async with ctx.pool.connection() as conn:
        # Several writers may start together; the lock makes them replace the policy in turn.
        await repo.set_retention_policy(conn, days)


async def prepare(ctx: Context) -> None:
    """Start-up upkeep, before the writer consumes: the retention policy (TimescaleDB), or
    today's and the coming days' partitions and retention (native)."""
    if ctx.storage_mode == TIMESCALE:
        await apply_timescale_retention(ctx)
    else:
        await partitions_of(ctx).maintain()
