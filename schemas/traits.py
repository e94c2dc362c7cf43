"""Messages the billing and churn services publish and the flags service reads as properties.

``billing.<project>.subscription`` carries :class:`SubscriptionChanged` (exposed to flags as the
``$plan``, ``$plan_status``, ``$mrr``, ``$entitlements`` and ``$billing_customer_id`` properties);
``churn.scores.<project>`` carries :class:`ChurnScored` (``churn_risk``).
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime

import msgspec


class SubscriptionChanged(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    tag="subscription.changed",
    tag_field="type",
):
    """A customer's billing state now (each message is the whole state, not a difference). A
    person customer has ``distinct_id``; a group customer has ``group_type`` and ``group_key``.
    ``plan`` is None once nothing is subscribed; ``status`` is the subscription's (``active``,
    ``trialing``, ``past_due``, ``canceled``, ...) or ``none``. ``mrr`` is the monthly amount in
    the currency's major unit; ``entitlements`` the active features' lookup keys. The last four
    fields came with the billing service: a message without them leaves them unset."""

    project_id: int
    plan: str | None
    status: str
    changed_at: datetime
    distinct_id: str | None = None
    group_type: str | None = None
    group_key: str | None = None
    mrr: float | None = None
    currency: str | None = None
    entitlements: list[str] | None = None
    customer_id: str | None = None


class ChurnScored(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="churn.scored", tag_field="type"
):
    """A person's churn probability (0 to 1) from the churn model."""

    project_id: int
    distinct_id: str
    score: float
    model_version: str
    scored_at: datetime


TraitsMessage = SubscriptionChanged | ChurnScored
