"""The projector: a durable consumer of billing's own ``billing.<project>.stripe.<type>``
messages. For each batch it reads the events from ``stripe_events``, applies them to the
projection in one transaction, and after the commit publishes the touched customers' state for
the flags service; the bus acks only then. A redelivered batch applies nothing (every row holds
its newest event already) and publishes the same state again, which NATS or the flags service's
newest-wins rule absorbs."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import msgspec

from schemas.billing import STRIPE_FILTER, StripeEventStored
from services.billing import metrics, projection, properties
from services.billing.repo import log as log_repo
from services.billing.state import config_of
from services.core.bus import ConsumerSpec, PoisonMessage

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nats.aio.msg import Msg

    from schemas.traits import SubscriptionChanged
    from services.core.service import Context

log = logging.getLogger("devflow.billing.projector")
DURABLE = "billing-projector"
_decoder = msgspec.json.Decoder(StripeEventStored)


async def project(ctx: Context, msgs: Sequence[Msg]) -> None:
    keys: list[tuple[int, str]] = []
    for msg in msgs:
        try:
            stored = _decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PoisonMessage(msg, f"not a stored Stripe event: {exc}") from None
        keys.append((stored.project_id, stored.event_id))
    states: list[SubscriptionChanged] = []
    async with ctx.pool.connection() as conn, conn.transaction():
        events = await log_repo.select_events(conn, keys)
        applied = await projection.apply(conn, events)
        # Read under the projection's lock: the state of each customer as of this batch.
        for project_id, customer_id in sorted(applied.customers):
            state = await properties.state_of(conn, project_id, customer_id)
            if state is not None:
                states.append(state)
    metrics.EVENTS_APPLIED.inc(applied.applied)
    metrics.EVENTS_STALE.inc(applied.stale)
    cause = hashlib.sha256(",".join(sorted(e.event_id for e in events)).encode()).hexdigest()
    await properties.publish(ctx, states, cause)


def consumers(ctx: Context) -> list[ConsumerSpec]:
    async def handle(msgs: Sequence[Msg]) -> None:
        await project(ctx, msgs)

    return [
        ConsumerSpec(
            stream="CONTROL",
            durable=DURABLE,
            filter_subject=STRIPE_FILTER,
            handler=handle,
            batch=config_of(ctx).billing_fetch_batch,
            max_deliver=ctx.settings.writer_max_deliver,
            ack_wait_s=ctx.settings.writer_ack_wait_s,
        )
    ]
