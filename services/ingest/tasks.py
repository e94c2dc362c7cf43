"""Background work of the ingest service: storage upkeep of ``events`` (native mode).

Every :data:`UPKEEP_INTERVAL_S` one process creates the partitions for the coming days and drops
those past retention. Each writer also runs the same upkeep once when it starts, before consuming
(see :func:`services.ingest.storage.prepare`), so today's partitions exist before any insert.
With TimescaleDB the extension's own jobs do this work and there is no periodic job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.core.jobs import Periodic
from services.ingest import storage

if TYPE_CHECKING:
    from services.core.service import Context

UPKEEP_INTERVAL_S = 3600.0


async def upkeep(ctx: Context) -> None:
    """Create the partitions ahead and drop the expired ones."""
    await storage.partitions_of(ctx).maintain()


def periodic(ctx: Context) -> list[Periodic]:
    """The hourly partition upkeep, natively; none under TimescaleDB (its jobs do it)."""
    if ctx.storage_mode == storage.TIMESCALE:
        return []
    return [Periodic(name="ingest.upkeep", interval_s=UPKEEP_INTERVAL_S, fn=upkeep)]
