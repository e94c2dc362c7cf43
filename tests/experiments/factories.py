"""Events and experiments for the experiments tests, built as the public APIs take them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def event(name: str, distinct_id: str, ts: datetime, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": name,
        "distinct_id": distinct_id,
        "timestamp": ts.astimezone(UTC).isoformat(),
        "uuid": str(uuid.uuid4()),
        "properties": props,
    }


def exposure(distinct_id: str, flag: str, variant: str, ts: datetime) -> dict[str, Any]:
    props = {"$feature_flag": flag, "$feature_flag_response": variant}
    return event("$feature_flag_called", distinct_id, ts, props)
