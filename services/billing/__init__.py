"""Billing: Stripe webhooks into an append-only log, the customers/subscriptions/entitlements
projection built from it, and each customer's plan published to the flags service."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from services.billing.api import router
from services.billing.config import BillingConfig
from services.billing.consumers import consumers
from services.billing.state import STATE_KEY, BillingState
from services.billing.tasks import periodic
from services.core.service import Context, Service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def _lifespan(ctx: Context) -> AsyncIterator[None]:
    # Read once at start-up; a bad value stops the process with a clear message.
    ctx.state[STATE_KEY] = BillingState.from_config(BillingConfig.from_env())
    yield


SERVICE = Service(
    name="billing",
    router=router,
    consumers=consumers,
    lifespan=_lifespan,
    periodic=periodic,
)
