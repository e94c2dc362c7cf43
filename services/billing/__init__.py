"""Billing: Stripe webhooks into an append-only log, the customers/subscriptions/entitlements
projection built from it, backfill, usage metering, and each customer's plan published to the
flags service."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from services.billing.api import router
from services.billing.config import BillingConfig
from services.billing.consumers import consumers
from services.billing.state import state_of
from services.billing.tasks import periodic
from services.core.service import Context, Service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def _lifespan(ctx: Context) -> AsyncIterator[None]:
    # A malformed encryption key stops the process at start-up with a one-line error.
    state_of(ctx)
    yield


SERVICE = Service(
    name="billing",
    router=router,
    consumers=consumers,
    lifespan=_lifespan,
    periodic=periodic,
    settings=BillingConfig,
)
