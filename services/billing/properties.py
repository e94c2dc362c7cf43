"""Publishing customers' billing state to the flags service as ``SubscriptionChanged`` on
``billing.<project>.subscription`` (read there as ``$plan``, ``$plan_status``, ``$mrr``,
``$entitlements`` and ``$billing_customer_id``).

A customer is linked to a person by ``metadata[<distinct_id_field>]`` (default
``distinct_id``), else, when the project enables it, by the ``client_reference_id`` of its
latest completed Checkout Session; with a group type set, to the group
``metadata[<group_key_field>]`` instead. An unlinked customer publishes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from schemas.traits import SubscriptionChanged
from services.billing import plans
from services.billing.repo import projection as repo
from services.billing.repo import settings as settings_repo

if TYPE_CHECKING:
    from services.billing.repo import Conn
    from services.core.service import Context

SUBJECT = "billing.{project_id}.subscription"
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class CustomerState:
    """What billing knows of a customer now, linked or not."""

    customer: repo.CustomerRow
    distinct_id: str | None
    group_type: str | None
    group_key: str | None
    plan: plans.Plan
    entitlements: list[str]
    # The newest ``created`` among the events the state is made of.
    changed_at: int


async def billing_state(conn: Conn, project_id: int, customer_id: str) -> CustomerState | None:
    """The customer's state from the projection; None for an unknown customer."""
    customer = await repo.select_customer(conn, project_id, customer_id)
    if customer is None:
        return None
    mapping = await settings_repo.select_settings(conn, project_id)
    link = await repo.select_checkout_link(conn, project_id, customer_id)
    times = [customer.event_created]
    distinct_id = group_type = group_key = None
    if mapping is not None and mapping.group_type:
        group_type = mapping.group_type
        group_key = _text(customer.metadata.get(mapping.group_key_field))
    else:
        field = mapping.distinct_id_field if mapping else "distinct_id"
        distinct_id = _text(customer.metadata.get(field))
        by_checkout = mapping is not None and mapping.use_client_reference_id
        if distinct_id is None and by_checkout and link:
            distinct_id = link[0]
            times.append(link[1])
    rows = await repo.select_subscriptions(conn, project_id, customer_id)
    subs = [plans.Sub(r.id, r.status, r.items, r.created) for r in rows]
    times.extend(r.event_created for r in rows)
    best = plans.current(subs)
    price_ids = [best.items[0]["price"]] if best and best.items else []
    prices = await repo.select_prices(conn, project_id, price_ids)
    times.extend(p.event_created for p in prices)
    entitlements = await repo.select_entitlements(conn, project_id, customer_id)
    if entitlements is not None:
        times.append(entitlements[1])
    return CustomerState(
        customer=customer,
        distinct_id=distinct_id,
        group_type=group_type,
        group_key=group_key,
        plan=plans.plan_of(subs, {p.id: p.lookup_key for p in prices}),
        entitlements=entitlements[0] if entitlements else [],
        changed_at=max(times),
    )


async def state_of(conn: Conn, project_id: int, customer_id: str) -> SubscriptionChanged | None:
    """The customer's billing state as the message for flags; None when it is not linked."""
    state = await billing_state(conn, project_id, customer_id)
    if state is None or not (state.distinct_id or state.group_key):
        return None
    return SubscriptionChanged(
        project_id=project_id,
        plan=state.plan.plan,
        status=state.plan.status,
        # The newest fact the state is made of: the flags service keeps the newest state.
        changed_at=datetime.fromtimestamp(state.changed_at, UTC),
        distinct_id=state.distinct_id,
        group_type=state.group_type,
        group_key=state.group_key,
        mrr=state.plan.mrr,
        currency=state.plan.currency,
        entitlements=state.entitlements,
        customer_id=customer_id,
    )


async def publish(ctx: Context, states: list[SubscriptionChanged], cause: str) -> None:
    """Publish each state. ``cause`` names what made it (the applied events): published again
    for the same cause (a redelivery), a state is dropped by NATS's de-duplication."""
    for state in states:
        key = f"{state.project_id}:{state.customer_id}:{cause}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        await ctx.bus.publish(
            SUBJECT.format(project_id=state.project_id),
            _encoder.encode(state),
            msg_id=f"billing-state:{digest}",
            timeout_s=ctx.settings.publish_timeout_s,
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
