"""Applying logged Stripe events to the projection, exactly once and in any order.

Each event names one object; its row is replaced by the event's snapshot of the object only when
the event is newer than the one the row holds (see :mod:`services.billing.repo.projection`).
Applying returns the customers whose flag properties may have moved, stale or not: a
redelivered message must still lead to the properties being published (see consumers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from services.billing import objects
from services.billing.objects import (
    CheckoutSession,
    Customer,
    EntitlementSummary,
    Invoice,
    Price,
    Product,
    Subscription,
    ref_id,
)
from services.billing.repo import projection as repo

if TYPE_CHECKING:
    from services.billing.repo import Conn
    from services.billing.repo.log import LoggedEvent

log = logging.getLogger("devflow.billing.projection")
_json = msgspec.json.Encoder()


@dataclass
class Applied:
    applied: int = 0
    stale: int = 0
    ignored: int = 0
    # (project, customer id) whose flag properties are to be published.
    customers: set[tuple[int, str]] = field(default_factory=set)


async def apply(conn: Conn, events: list[LoggedEvent]) -> Applied:
    """Apply ``events`` (in one transaction the caller holds)."""
    out = Applied()
    for project_id in sorted({e.project_id for e in events}):
        await repo.lock(conn, project_id)
    for event in events:
        await _apply_one(conn, event, out)
    return out


async def _apply_one(conn: Conn, event: LoggedEvent, out: Applied) -> None:
    try:
        obj = objects.decode(event.payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # Logged and acknowledged already: a shape we can't read must not block the others.
        log.warning("stripe event %s (%s) not applied: %s", event.event_id, event.type, exc)
        out.ignored += 1
        return
    step = _row(event, obj)
    if step is None:
        out.ignored += 1
        return
    kind, values, customer = step
    if await repo.upsert(conn, kind, (event.project_id, *values, event.created, event.event_id)):
        out.applied += 1
    else:
        out.stale += 1
        log.info(
            "stripe event %s (%s) is not newer than the state it would replace: not applied",
            event.event_id,
            event.type,
        )
    if customer:
        out.customers.add((event.project_id, customer))
    elif kind in ("price", "product"):
        for cid in await repo.customers_of_price(conn, event.project_id, str(values[0])):
            out.customers.add((event.project_id, cid))


def _row(
    event: LoggedEvent, obj: objects.StripeObject | None
) -> tuple[str, tuple[object, ...], str | None] | None:
    """(kind of row, its values after the project id, the customer it concerns)."""
    deleted = event.type.endswith(".deleted")
    match obj:
        case Customer():
            values = (obj.id, obj.email, obj.name, _json.encode(obj.metadata).decode())
            return "customer", (*values, deleted or obj.deleted), obj.id
        case Product():
            return "product", (obj.id, obj.name, obj.active, deleted or obj.deleted), None
        case Price():
            recurring = obj.recurring
            return (
                "price",
                (
                    obj.id,
                    ref_id(obj.product),
                    obj.lookup_key,
                    obj.unit_amount,
                    obj.currency,
                    recurring.interval if recurring else None,
                    recurring.interval_count if recurring else None,
                    obj.active,
                    deleted or obj.deleted,
                ),
                None,
            )
        case Subscription():
            return "subscription", _subscription(obj), ref_id(obj.customer)
        case Invoice():
            subscription = ref_id(obj.subscription)
            if subscription is None and obj.parent and obj.parent.subscription_details:
                subscription = ref_id(obj.parent.subscription_details.subscription)
            invoice = (
                obj.id,
                ref_id(obj.customer),
                subscription,
                obj.status,
                obj.status == "paid" or event.type == "invoice.paid",
                event.type == "invoice.payment_failed",
                obj.amount_due,
                obj.amount_paid,
                obj.currency,
            )
            return "invoice", invoice, ref_id(obj.customer)
        case CheckoutSession():
            customer = ref_id(obj.customer)
            if event.type != "checkout.session.completed" or not (
                customer and obj.client_reference_id
            ):
                return None
            return "checkout_link", (customer, obj.client_reference_id), customer
        case EntitlementSummary():
            keys = sorted({e.lookup_key for e in obj.entitlements.data})
            return "entitlements", (obj.customer, keys), obj.customer
    return None


def _subscription(sub: Subscription) -> tuple[object, ...]:
    items = objects.subscription_items(sub)
    first = sub.items.data[0] if sub.items.data else None
    start = sub.current_period_start or (first.current_period_start if first else None)
    end = sub.current_period_end or (first.current_period_end if first else None)
    return (
        sub.id,
        ref_id(sub.customer),
        sub.status,
        _json.encode(items).decode(),
        sorted({i["price"] for i in items}),
        sorted({i["product"] for i in items if i["product"]}),
        sub.trial_start,
        sub.trial_end,
        sub.cancel_at_period_end,
        start,
        end,
        sub.created,
    )
