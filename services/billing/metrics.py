"""Prometheus metrics of the billing service."""

from __future__ import annotations

from prometheus_client import Counter

from services.core.metrics import REGISTRY

WEBHOOKS = Counter(
    "devflow_billing_webhooks_total",
    "Stripe webhook deliveries by outcome (stored, duplicate, rejected)",
    ["outcome"],
    registry=REGISTRY,
)
EVENTS_APPLIED = Counter(
    "devflow_billing_events_applied_total",
    "Stripe events applied to the billing projection",
    registry=REGISTRY,
)
EVENTS_STALE = Counter(
    "devflow_billing_events_stale_total",
    "Stripe events older than the state they would have replaced (logged, not applied)",
    registry=REGISTRY,
)
