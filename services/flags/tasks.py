"""Background work of the flags service: scheduled changes and the outbox relay."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from services.core.jobs import Job, Periodic
from services.flags import changes, repo, service

if TYPE_CHECKING:
    from services.core.service import Context

log = logging.getLogger("devflow.flags")
# A pending change this late was not applied by its own job (its retries ran out, or the job
# queue was reset); the sweep applies it.
SWEEP_OVERDUE_S = 5.0
# Outbox rows younger than this are still being published by the request that wrote them.
RELAY_AFTER_S = 2.0


async def apply_schedule(ctx: Context, payload: dict[str, Any]) -> None:
    """Job: apply one scheduled change and log its outcome."""
    outcome = await service.apply_schedule(ctx, int(payload["schedule_id"]))
    log.info("scheduled change %s: %s", payload["schedule_id"], outcome)


async def sweep_schedules(ctx: Context) -> None:
    """Apply the pending changes overdue by ``SWEEP_OVERDUE_S`` that no job applied."""
    async with ctx.pool.connection() as conn:
        due = await repo.select_due_schedules(conn, SWEEP_OVERDUE_S)
    for schedule_id in due:
        log.warning("scheduled change %s is overdue; applying it now", schedule_id)
        await service.apply_schedule(ctx, schedule_id)


async def relay_outbox(ctx: Context) -> None:
    """Publish the flag changes whose publish after commit did not happen."""
    async with ctx.pool.connection() as conn, conn.transaction():
        pending = await repo.select_outbox(conn, RELAY_AFTER_S)
    for change_id, subject, payload in pending:
        await changes.publish_outboxed(ctx, change_id, subject, payload)


def jobs(_ctx: Context) -> list[Job]:
    """The flags service's jobs."""
    return [Job(name=service.APPLY_SCHEDULE, fn=apply_schedule)]


def periodic(_ctx: Context) -> list[Periodic]:
    """The flags service's periodic tasks: the schedule sweep and the outbox relay."""
    return [
        Periodic(name="flags.sweep_schedules", interval_s=5.0, fn=sweep_schedules),
        Periodic(name="flags.relay_outbox", interval_s=2.0, fn=relay_outbox),
    ]
