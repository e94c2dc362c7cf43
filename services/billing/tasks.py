"""Background work of the billing service: the periodic metering run (the projection is kept
by the projector consumer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.billing import metering
from services.billing.state import state_of
from services.core.jobs import Periodic

if TYPE_CHECKING:
    from services.core.service import Context


async def _report_usage(ctx: Context) -> None:
    state = state_of(ctx)
    async with ctx.pool.connection() as conn:
        await metering.report_usage(conn, state.box, state.config.stripe_api_base)


def periodic(ctx: Context) -> list[Periodic]:
    return [
        Periodic(
            name="billing.report_usage",
            interval_s=state_of(ctx).config.billing_report_interval_s,
            fn=_report_usage,
        )
    ]
