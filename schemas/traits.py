"""Messages the billing and churn services publish and the flags service reads as properties.

``billing.<project>.subscription`` carries :class:`SubscriptionChanged` (exposed to flags as the
``$plan`` property); ``churn.scores.<project>`` carries :class:`ChurnScored` (``churn_risk``).
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
    """The plan a customer is on now. A person customer has ``distinct_id``; a group customer
    has ``group_type`` and ``group_key``. ``plan`` is None once nothing is subscribed."""

    project_id: int
    plan: str | None
    status: str
    changed_at: datetime
    distinct_id: str | None = None
    group_type: str | None = None
    group_key: str | None = None


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
