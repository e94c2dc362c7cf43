"""Events for the ingest tests, as the capture API takes them and as the writer hands them to the
persons projection, and helpers to send them and read back what was stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from services.ingest.persons import PersonEvent
from tests.support import Server, all_events, wait_for


def ev(event: str, distinct_id: str, **properties: Any) -> dict[str, Any]:
    """One event of a capture body (``$set`` and friends go in as properties)."""
    return {"event": event, "distinct_id": distinct_id, "properties": properties}


def identify(distinct_id: str, anon: str | None = None, **set_: Any) -> dict[str, Any]:
    """``$identify``, joining ``anon`` when given, with ``set_`` as ``$set``."""
    props: dict[str, Any] = {"$anon_distinct_id": anon} if anon is not None else {}
    if set_:
        props["$set"] = set_
    return ev("$identify", distinct_id, **props)


def alias(distinct_id: str, other: str) -> dict[str, Any]:
    """``$create_alias``: ``other`` joins ``distinct_id``'s person."""
    return ev("$create_alias", distinct_id, alias=other)


def group_identify(group_type: str, key: str, **group_set: Any) -> dict[str, Any]:
    """``$groupidentify`` as posthog-python sends it."""
    props = {"$group_type": group_type, "$group_key": key, "$group_set": group_set}
    return ev("$groupidentify", f"${group_type}_{key}", **props)


def person_event(event: dict[str, Any], timestamp: datetime | None = None) -> PersonEvent:
    """The writer's view of a capture event, for the persons projection in process."""
    return PersonEvent(
        distinct_id=event["distinct_id"],
        event=event["event"],
        timestamp=timestamp or datetime.now(UTC),
        properties=event.get("properties", {}),
    )


def send(http: httpx.Client, project: Any, events: list[dict[str, Any]]) -> None:
    """POST ``events`` to ``/batch`` with the project's token; every one must be accepted."""
    res = http.post("/batch", json={"api_key": project.token, "batch": events})
    assert res.status_code == 200, res.text


def settled(server: Server, project: Any, n: int) -> list[dict[str, Any]]:
    """The project's stored events, once there are at least ``n``."""
    return wait_for(
        lambda: (e := all_events(server.url, project.secret_key)) and len(e) >= n and e, 20
    )


def read_person(http: httpx.Client, project: Any, distinct_id: str) -> dict[str, Any]:
    """``GET /api/persons/{distinct_id}``, which must exist."""
    res = http.get(
        f"/api/persons/{distinct_id}", headers={"Authorization": f"Bearer {project.secret_key}"}
    )
    assert res.status_code == 200, res.text
    return res.json()
