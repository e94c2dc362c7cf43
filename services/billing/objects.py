"""The parts of Stripe's objects the projection reads, decoded from a logged event's
``data.object`` by its ``object`` field. Fields Stripe moved between API versions are read from
both places (a subscription's current period from its items since 2025-03-31; an invoice's
subscription from ``parent.subscription_details`` since then)."""

from __future__ import annotations

from typing import Any

import msgspec


class Ref(msgspec.Struct, frozen=True):
    """An expanded object where an id may stand."""

    id: str


def ref_id(value: str | Ref | None) -> str | None:
    return value.id if isinstance(value, Ref) else value


class Recurring(msgspec.Struct, frozen=True):
    interval: str
    interval_count: int = 1


class Customer(msgspec.Struct, frozen=True, tag_field="object", tag="customer"):
    id: str
    email: str | None = None
    name: str | None = None
    metadata: dict[str, Any] = {}
    deleted: bool = False


class Product(msgspec.Struct, frozen=True, tag_field="object", tag="product"):
    id: str
    name: str | None = None
    active: bool = True
    deleted: bool = False


class Price(msgspec.Struct, frozen=True, tag_field="object", tag="price"):
    id: str
    product: str | Ref | None = None
    lookup_key: str | None = None
    unit_amount: int | None = None
    currency: str | None = None
    recurring: Recurring | None = None
    active: bool = True
    deleted: bool = False


class SubscriptionItem(msgspec.Struct, frozen=True):
    id: str
    price: Price
    quantity: int | None = None
    current_period_start: int | None = None
    current_period_end: int | None = None


class ItemList(msgspec.Struct, frozen=True):
    data: list[SubscriptionItem] = []


class Subscription(msgspec.Struct, frozen=True, tag_field="object", tag="subscription"):
    id: str
    customer: str | Ref
    status: str
    created: int
    items: ItemList = ItemList()
    trial_start: int | None = None
    trial_end: int | None = None
    cancel_at_period_end: bool = False
    current_period_start: int | None = None
    current_period_end: int | None = None


class SubscriptionDetails(msgspec.Struct, frozen=True):
    subscription: str | Ref | None = None


class InvoiceParent(msgspec.Struct, frozen=True):
    subscription_details: SubscriptionDetails | None = None


class Invoice(msgspec.Struct, frozen=True, tag_field="object", tag="invoice"):
    id: str
    customer: str | Ref | None = None
    subscription: str | Ref | None = None
    parent: InvoiceParent | None = None
    status: str | None = None
    amount_due: int | None = None
    amount_paid: int | None = None
    currency: str | None = None


class CheckoutSession(msgspec.Struct, frozen=True, tag_field="object", tag="checkout.session"):
    id: str
    customer: str | Ref | None = None
    client_reference_id: str | None = None


class Entitlement(msgspec.Struct, frozen=True):
    lookup_key: str


class EntitlementList(msgspec.Struct, frozen=True):
    data: list[Entitlement] = []


class EntitlementSummary(
    msgspec.Struct,
    frozen=True,
    tag_field="object",
    tag="entitlements.active_entitlement_summary",
):
    customer: str
    entitlements: EntitlementList = EntitlementList()


StripeObject = (
    Customer | Product | Price | Subscription | Invoice | CheckoutSession | EntitlementSummary
)


class _Envelope(msgspec.Struct, frozen=True):
    data: _Data


class _Data(msgspec.Struct, frozen=True):
    object: msgspec.Raw


class _Kind(msgspec.Struct, frozen=True):
    object: str = ""


_envelope = msgspec.json.Decoder(_Envelope)
_kind = msgspec.json.Decoder(_Kind)
_object = msgspec.json.Decoder(StripeObject)
KINDS = frozenset(
    {
        "customer",
        "product",
        "price",
        "subscription",
        "invoice",
        "checkout.session",
        "entitlements.active_entitlement_summary",
    }
)


def decode(payload: str | bytes) -> StripeObject | None:
    """The event's object when the projection reads its kind; None for any other kind.
    Raises ``msgspec.ValidationError``/``DecodeError`` for a kind it reads in a shape it can't."""
    raw = _envelope.decode(payload).data.object
    if _kind.decode(raw).object not in KINDS:
        return None
    return _object.decode(raw)


def subscription_items(sub: Subscription) -> list[dict[str, Any]]:
    """The items as the projection stores them (the price as it was then, for the plan)."""
    return [
        {
            "id": item.id,
            "price": item.price.id,
            "product": ref_id(item.price.product),
            "lookup_key": item.price.lookup_key,
            "quantity": 1 if item.quantity is None else item.quantity,
            "unit_amount": item.price.unit_amount,
            "currency": item.price.currency,
            "interval": item.price.recurring.interval if item.price.recurring else None,
            "interval_count": item.price.recurring.interval_count if item.price.recurring else 1,
        }
        for item in sub.items.data
    ]
