"""Ingest use cases: accept a capture request, read events and persons back."""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.api import EventOut, EventsPage, FieldError, PersonOut
from schemas.events import CapturedEvent, EventBatch
from services.core import capture as protocol
from services.core import cursors, metrics
from services.core.capture import recordings
from services.ingest import repo
from services.ingest.config import IngestConfig
from services.ingest.errors import CaptureTooLarge, InvalidQuery, PersonNotFound

if TYPE_CHECKING:
    from services.core.service import Context

_encoder = msgspec.json.Encoder()
# Room for the batch envelope and headers below the broker's max payload.
_PAYLOAD_HEADROOM = 16 * 1024
MAX_PAGE = 1000


@dataclass(frozen=True)
class CaptureResult:
    """How many events a capture request accepted, and why the others were refused."""

    accepted: int
    errors: list[FieldError]


async def capture(ctx: Context, req: protocol.CaptureRequest) -> CaptureResult:
    """Validate, authenticate and publish; returns only once JetStream acknowledged every event."""
    accepted = await protocol.accept(ctx, req)
    parsed, project_id, now = accepted.parsed, accepted.project_id, accepted.now
    if req.client_ip and ctx.settings_of(IngestConfig).capture_ip:
        # As PostHog does: the address the event came from, unless the SDK already set one.
        for event in parsed.events:
            event.properties.setdefault("$ip", req.client_ip)
    if parsed.events:
        await publish_events(ctx, project_id, now, parsed.events)
    # $snapshot events are recordings: they go to the replay service, not to the events table.
    if parsed.snapshots:
        await recordings.publish(ctx, project_id, now, parsed.snapshots)
    metrics.EVENTS_ACCEPTED.inc(parsed.accepted)
    for err in parsed.errors:
        metrics.EVENTS_REJECTED.labels(err.field).inc()
    return CaptureResult(accepted=parsed.accepted, errors=parsed.errors)


async def publish_events(
    ctx: Context, project_id: int, now: datetime, events: list[CapturedEvent]
) -> None:
    """Publish the events to ``EVENTS`` in messages that fit the broker's payload limit.

    Each message id is derived from its events' uuids, so a retry carrying the same event uuids is
    dropped by the stream's duplicate window.
    """
    limit = ctx.bus.max_payload - _PAYLOAD_HEADROOM
    for chunk, payload in _chunks(project_id, now, events, limit):
        ids = ",".join(e.uuid for e in chunk)
        msg_id = hashlib.sha256(f"{project_id}:{ids}".encode()).hexdigest()[:40]
        await ctx.bus.publish(
            f"events.{project_id}.capture",
            payload,
            msg_id=msg_id,
            timeout_s=ctx.settings.publish_timeout_s,
        )


def _chunks(
    project_id: int, now: datetime, events: list[CapturedEvent], limit: int
) -> list[tuple[list[CapturedEvent], bytes]]:
    """Encoded messages no larger than ``limit``, halving the batch until each fits."""
    payload = _encoder.encode(EventBatch(project_id=project_id, received_at=now, events=events))
    if len(payload) <= limit:
        return [(events, payload)]
    if len(events) == 1:
        raise CaptureTooLarge(
            "an event is larger than the broker accepts",
            [FieldError("size", f"encoded event exceeds {limit} bytes")],
        )
    half = len(events) // 2
    return _chunks(project_id, now, events[:half], limit) + _chunks(
        project_id, now, events[half:], limit
    )


# --- reads ---------------------------------------------------------------------------------------


class _Cursor(msgspec.Struct, array_like=True):
    timestamp: datetime
    uuid: uuidlib.UUID


def _encode_cursor(row: repo.EventRow) -> str:
    return cursors.encode(_Cursor(row.timestamp, uuidlib.UUID(row.uuid)))


def _decode_cursor(value: str) -> _Cursor:
    position = cursors.decode(value, _Cursor)
    if position is None:
        raise InvalidQuery(
            "the cursor is not valid", [FieldError("cursor", "not a cursor from next_cursor")]
        )
    return position


def _text_param(name: str, value: str | None) -> None:
    # PostgreSQL text can't hold NUL; no stored value contains one either (capture refuses it).
    if value is not None and "\x00" in value:
        raise InvalidQuery(f"{name} contains a NUL character", [FieldError(name, "contains NUL")])


def _time_param(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(
            f"{name} is not a date-time", [FieldError(name, "expected ISO 8601")]
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


async def list_events(
    ctx: Context,
    project_id: int,
    *,
    event: str | None,
    distinct_id: str | None,
    after: str | None,
    before: str | None,
    limit: int,
    cursor: str | None,
) -> EventsPage:
    """A page of the project's events, newest first; :class:`InvalidQuery` for bad parameters."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(
            f"limit must be between 1 and {MAX_PAGE}",
            [FieldError("limit", f"must be between 1 and {MAX_PAGE}")],
        )
    for name, value in (("event", event), ("distinct_id", distinct_id)):
        _text_param(name, value)
    position = _decode_cursor(cursor) if cursor else None
    params: dict[str, Any] = {
        "project_id": project_id,
        "event": event,
        "distinct_id": distinct_id,
        "after": _time_param("after", after),
        "before": _time_param("before", before),
        "cursor_ts": position.timestamp if position else None,
        "cursor_uuid": str(position.uuid) if position else None,
        "limit": limit + 1,
    }
    async with ctx.pool.connection() as conn:
        rows = await repo.select_events(conn, params)
    more = len(rows) > limit
    rows = rows[:limit]
    return EventsPage(
        results=[EventOut(*msgspec.structs.astuple(r)) for r in rows],
        next_cursor=_encode_cursor(rows[-1]) if more and rows else None,
    )


async def get_person(ctx: Context, project_id: int, distinct_id: str) -> PersonOut:
    """The person owning ``distinct_id``; :class:`PersonNotFound` otherwise."""
    _text_param("distinct_id", distinct_id)
    async with ctx.pool.connection() as conn:
        row = await repo.select_person(conn, project_id, distinct_id)
    if row is None:
        raise PersonNotFound(
            "no person has this distinct id", [FieldError("distinct_id", "not found")]
        )
    person_id, properties, created_at, distinct_ids = row
    return PersonOut(
        id=person_id, distinct_ids=distinct_ids, properties=properties, created_at=created_at
    )
