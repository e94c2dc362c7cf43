"""Events as they travel from the ingest API to the writer over the ``EVENTS`` stream."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import Any

import msgspec


class CapturedEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One validated, normalised event: timestamps corrected, uuid assigned, token removed."""

    uuid: str
    event: str
    distinct_id: str
    timestamp: datetime
    properties: dict[str, Any]


class EventBatch(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="events.batch", tag_field="type"
):
    """Published on ``events.<project>.capture``; one message per accepted HTTP request slice."""

    project_id: int
    received_at: datetime
    events: list[CapturedEvent]
