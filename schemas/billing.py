"""Wire types of the billing service: its settings API, webhook answers, Stripe's webhook
envelope, and the message announcing a stored Stripe event on ``billing.<project>.stripe.<type>``.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import Any

import msgspec

# Raw Stripe events live under their own sub-tree of ``billing.>``; plan changes for flags are
# on ``billing.<project>.subscription`` (schemas.traits), so neither consumer sees the other's.
STRIPE_SUBJECT = "billing.{project_id}.stripe.{type}"
STRIPE_FILTER = "billing.*.stripe.>"


class BillingSettingsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PUT /api/billing/settings``. A secret left out (or null) keeps the stored one; an empty
    string removes it. The mapping fields left out keep their stored values."""

    stripe_secret_key: str | None = None
    webhook_secret: str | None = None
    # Customer metadata key holding the person's distinct id.
    distinct_id_field: str | None = None
    # Also link a customer to the client_reference_id of its completed Checkout Session.
    use_client_reference_id: bool | None = None
    # B2B: customers are groups of this type (empty string: people again), keyed by
    # metadata[group_key_field].
    group_type: str | None = None
    group_key_field: str | None = None


class BillingSettingsOut(msgspec.Struct, frozen=True):
    """Secrets are never returned: only whether they are set and their first characters."""

    stripe_secret_key_set: bool
    stripe_secret_key_prefix: str | None
    webhook_secret_set: bool
    webhook_secret_prefix: str | None
    distinct_id_field: str
    use_client_reference_id: bool
    group_type: str | None
    group_key_field: str
    # Where Stripe delivers this project's events (relative to the platform's URL).
    webhook_path: str
    updated_at: datetime | None


class WebhookAck(msgspec.Struct, frozen=True):
    received: bool
    event_id: str
    # True when the event was already in the log (a redelivery): nothing changed.
    duplicate: bool


class StripeEventData(msgspec.Struct, frozen=True):
    object: msgspec.Raw


class StripeEvent(msgspec.Struct, frozen=True):
    """The fields of Stripe's event envelope billing reads; the rest is kept in the log as sent."""

    id: str
    type: str
    created: int
    data: StripeEventData
    livemode: bool = False


class StripeEventStored(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A verified webhook event is in ``stripe_events``; its payload is read from there."""

    project_id: int
    event_id: str
    type: str
    created: int
    livemode: bool


class MeterIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/billing/meters``: count or sum a captured event per customer and window."""

    event: str
    stripe_event_name: str
    aggregation: str = "count"
    # The numeric event property summed (``aggregation: "sum"`` only).
    property: str | None = None
    window: str = "hour"
    # Report usage from this time on (default: now). Stripe takes events up to 35 days old.
    starts_at: datetime | None = None


class MeterUsage(msgspec.Struct, frozen=True):
    """Reports of a meter by status: how many and their total value."""

    status: str
    reports: int
    value: float
    last_error: str | None


class MeterOut(msgspec.Struct, frozen=True):
    id: int
    event: str
    stripe_event_name: str
    aggregation: str
    property: str | None
    window: str
    starts_at: datetime
    created_at: datetime
    usage: list[MeterUsage]


class MeterList(msgspec.Struct, frozen=True):
    results: list[MeterOut]


class UsageReported(msgspec.Struct, frozen=True):
    """What one run of the metering job did."""

    planned: int
    reported: int
    pending: int
    failed: int


class CustomerOut(msgspec.Struct, frozen=True):
    """A customer of the projection with the billing state flags see."""

    id: str
    email: str | None
    name: str | None
    deleted: bool
    # The person (distinct id) or group key the customer is linked to, if any.
    distinct_id: str | None
    group_key: str | None
    plan: str | None
    status: str
    mrr: float
    currency: str | None
    entitlements: list[str]


class CustomerList(msgspec.Struct, frozen=True):
    results: list[CustomerOut]
    next_cursor: str | None


class SubscriptionOut(msgspec.Struct, frozen=True):
    id: str
    status: str
    items: list[dict[str, Any]]
    trial_start: int | None
    trial_end: int | None
    cancel_at_period_end: bool
    current_period_start: int | None
    current_period_end: int | None
    created: int


class InvoiceOut(msgspec.Struct, frozen=True):
    id: str
    subscription_id: str | None
    status: str | None
    paid: bool
    payment_failed: bool
    amount_due: int | None
    amount_paid: int | None
    currency: str | None


class MeterTotal(msgspec.Struct, frozen=True):
    meter_id: int
    stripe_event_name: str
    reported: float
    pending: float


class CustomerDetail(msgspec.Struct, frozen=True):
    """``GET /api/billing/customers/{id}``: the projection, the linked person, the usage."""

    customer: CustomerOut
    metadata: dict[str, Any]
    # The linked person's id in the persons projection (None when no event was captured yet).
    person_id: str | None
    subscriptions: list[SubscriptionOut]
    invoices: list[InvoiceOut]
    usage: list[MeterTotal]


class StripeEventOut(msgspec.Struct, frozen=True):
    seq: int
    event_id: str
    type: str
    created: int
    livemode: bool
    received_at: datetime


class StripeEventList(msgspec.Struct, frozen=True):
    results: list[StripeEventOut]
    next_cursor: str | None
