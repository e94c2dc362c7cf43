"""Background work of the experiments service: running experiments' results kept warm.

Every ``DEVFLOW_EXPERIMENTS_REFRESH_INTERVAL_S`` (30 s) the results of each running experiment
whose stored results are older than ``results.RESULTS_TTL_S`` are recomputed, which refreshes
its per-person rows incrementally. So the rows are never far behind the events, and the API and
the dashboard mostly answer from stored results.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from services.core.jobs import Periodic
from services.experiments import repo, results
from services.experiments.config import ExperimentsConfig

if TYPE_CHECKING:
    from services.core.service import Context

log = logging.getLogger("devflow.experiments")


async def refresh_running(ctx: Context) -> None:
    """Recompute the stale results of every running experiment, one at a time."""
    async with ctx.pool.connection() as conn:
        running = await repo.select_running(conn)
    for row in running:
        try:
            await results.results(ctx, row)
        except Exception:  # one broken experiment must not starve the others
            log.exception("refreshing the results of experiment %s failed", row.id)


def periodic(ctx: Context) -> list[Periodic]:
    """The experiments service's periodic task: the results refresh."""
    interval_s = ctx.settings_of(ExperimentsConfig).refresh_interval_s
    return [Periodic(name="experiments.refresh", interval_s=interval_s, fn=refresh_running)]
