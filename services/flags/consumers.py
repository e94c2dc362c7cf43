"""NATS consumers of the flags service: traits published by billing and churn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from schemas.traits import ChurnScored, SubscriptionChanged, TraitsMessage
from services.core.bus import ConsumerSpec, PoisonMessage
from services.flags import repo

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nats.aio.msg import Msg

    from services.core.service import Context

_decoder = msgspec.json.Decoder(TraitsMessage)


def consumers(ctx: Context) -> list[ConsumerSpec]:
    """The durable consumers that store billing plans and churn scores as traits."""

    async def handle(msgs: Sequence[Msg]) -> None:
        """Store the batch's traits (the consumer handler)."""
        await store_traits(ctx, msgs)

    return [
        ConsumerSpec(
            stream="CONTROL",
            durable="flags-traits-billing",
            # Only billing's plan messages: its raw Stripe events are on billing.*.stripe.>.
            filter_subject="billing.*.subscription",
            handler=handle,
        ),
        ConsumerSpec(
            stream="CONTROL",
            durable="flags-traits-churn",
            filter_subject="churn.>",
            handler=handle,
        ),
    ]


def billing_properties(message: SubscriptionChanged) -> dict[str, Any]:
    """The flag properties a plan message carries beside ``$plan`` (those it sets)."""
    values = {
        "$plan_status": message.status,
        "$mrr": message.mrr,
        "$entitlements": message.entitlements,
        "$billing_customer_id": message.customer_id,
    }
    return {k: v for k, v in values.items() if v is not None}


async def store_traits(ctx: Context, msgs: Sequence[Msg]) -> None:
    """Store a batch of trait messages in one transaction, then tell every instance.

    An undecodable message, or a subscription naming neither a person nor a group, raises
    :class:`PoisonMessage`. The notification goes out after the commit, so an instance that
    drops its cache reads the new traits.
    """
    decoded = []
    for msg in msgs:
        try:
            message = _decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PoisonMessage(msg, f"not a traits message: {exc}") from None
        if isinstance(message, SubscriptionChanged) and not (
            message.distinct_id or (message.group_type and message.group_key)
        ):
            raise PoisonMessage(msg, "a subscription names neither a person nor a group")
        decoded.append(message)
    async with ctx.pool.connection() as conn, conn.transaction():
        for message in decoded:
            match message:
                case SubscriptionChanged(distinct_id=str(distinct_id)):
                    await repo.upsert_plan(
                        conn,
                        message.project_id,
                        "person",
                        "",
                        distinct_id,
                        message.plan,
                        message.changed_at,
                        billing_properties(message),
                    )
                case SubscriptionChanged(group_type=str(group_type), group_key=str(group_key)):
                    await repo.upsert_plan(
                        conn,
                        message.project_id,
                        "group",
                        group_type,
                        group_key,
                        message.plan,
                        message.changed_at,
                        billing_properties(message),
                    )
                case ChurnScored():
                    await repo.upsert_churn(
                        conn,
                        message.project_id,
                        message.distinct_id,
                        message.score,
                        message.scored_at,
                    )
    # Every instance caches subjects: tell them (after the commit) which projects moved.
    for project_id in sorted({m.project_id for m in decoded}):
        await ctx.bus.notify(f"flags.traits.{project_id}")
