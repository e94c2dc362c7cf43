"""Parse and normalise PostHog capture payloads into :class:`CapturedEvent` values.

Every event of a batch is decoded on its own, so one bad event is reported by index and field while
the others are still accepted.
"""

from __future__ import annotations

import os
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from schemas import replay
from schemas.api import FieldError
from schemas.events import CapturedEvent
from services.ingest.decoding import MAX_EVENT_BYTES
from services.ingest.errors import CaptureTooLarge, InvalidCapture

MAX_NAME_CHARS = 200
MAX_DISTINCT_ID_CHARS = 200
FUTURE_TOLERANCE = timedelta(hours=23)
TOKEN_FIELDS = ("api_key", "token", "$token")
# PostgreSQL text and jsonb can't hold U+0000. In JSON it can only arrive escaped, so one substring
# search of the payload tells whether any event needs the precise (slower) check.
_ESCAPED_NUL = b"\\u0000"


class _Envelope(msgspec.Struct):
    """The parts of a request body around the events; unknown fields are ignored, as by PostHog."""

    batch: list[msgspec.Raw] | None = None
    api_key: Any = None
    token: Any = None
    dollar_token: Any = msgspec.field(default=None, name="$token")
    sent_at: Any = None


class _RawEvent(msgspec.Struct):
    # Loosely typed on purpose: we check each field ourselves and name it in the error.
    event: Any = None
    distinct_id: Any = None
    properties: Any = None
    timestamp: Any = None
    uuid: Any = None
    offset: Any = None
    api_key: Any = None
    token: Any = None
    dollar_token: Any = msgspec.field(default=None, name="$token")
    set: Any = msgspec.field(default=None, name="$set")
    set_once: Any = msgspec.field(default=None, name="$set_once")


_envelope_decoder = msgspec.json.Decoder(_Envelope | list[msgspec.Raw])
_event_decoder = msgspec.json.Decoder(_RawEvent)


@dataclass
class ParsedRequest:
    token: str | None
    events: list[CapturedEvent] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    # Number of events in the request, valid or not.
    total: int = 0


def parse(payload: bytes, *, now: datetime, query_sent_at_ms: str | None = None) -> ParsedRequest:
    """Split a JSON capture payload into valid events and per-index field errors."""
    try:
        envelope = _envelope_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise InvalidCapture("the body is not valid JSON", [FieldError("body", str(exc))]) from None
    except msgspec.ValidationError as exc:
        raise InvalidCapture(
            "the body must be an event, a batch object or a list of events",
            [FieldError("body", str(exc))],
        ) from None
    except RecursionError:
        raise InvalidCapture(
            "the body is nested too deeply", [FieldError("body", "nested too deeply")]
        ) from None
    if isinstance(envelope, list):
        raws, token, sent_at_raw = envelope, None, None
    elif envelope.batch is not None:
        raws = envelope.batch
        token = _first_token(envelope.api_key, envelope.token, envelope.dollar_token)
        sent_at_raw = envelope.sent_at
    else:
        raws = [msgspec.Raw(payload)]
        token, sent_at_raw = None, envelope.sent_at
    if not raws:
        raise InvalidCapture("the batch has no events", [FieldError("batch", "empty")])
    sent_at = _parse_time(sent_at_raw) if sent_at_raw is not None else _ms(query_sent_at_ms)
    result = ParsedRequest(token=token, total=len(raws))
    single = len(raws) == 1 and not isinstance(envelope, list) and envelope.batch is None
    may_hold_nul = _ESCAPED_NUL in payload
    for index, raw in enumerate(raws):
        event_or_error = _one(raw, index, now, sent_at, result, may_hold_nul)
        if isinstance(event_or_error, FieldError):
            if single and event_or_error.field == "size":
                raise CaptureTooLarge(event_or_error.reason, [event_or_error])
            result.errors.append(event_or_error)
        else:
            result.events.append(event_or_error)
    return result


def _one(
    raw: msgspec.Raw,
    index: int,
    now: datetime,
    sent_at: datetime | None,
    request: ParsedRequest,
    may_hold_nul: bool = True,
) -> CapturedEvent | FieldError:
    if len(raw) > MAX_EVENT_BYTES:
        return FieldError("size", f"event is larger than {MAX_EVENT_BYTES} bytes", index)
    try:
        ev = _event_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return FieldError("event", "each event must be a JSON object", index)
    except RecursionError:
        return FieldError("properties", "nested too deeply", index)
    props = ev.properties if ev.properties is not None else {}

    # The token is read before anything else is judged, so that a bad event is reported to its
    # project (400) rather than refused as unauthenticated (401).
    prop_tokens = (props.get("token"), props.get("$token")) if isinstance(props, dict) else ()
    token = _first_token(ev.api_key, ev.token, ev.dollar_token, *prop_tokens)
    if token is not None:
        if request.token is None:
            request.token = token
        elif token != request.token:
            return FieldError("api_key", "differs from the token of the request", index)

    if not isinstance(props, dict):
        return FieldError("properties", "must be an object", index)

    if not isinstance(ev.event, str) or not ev.event.strip():
        return FieldError("event", "must be a non-empty string", index)
    if len(ev.event) > MAX_NAME_CHARS:
        return FieldError("event", f"longer than {MAX_NAME_CHARS} characters", index)

    distinct_id = ev.distinct_id if ev.distinct_id is not None else props.get("distinct_id")
    if isinstance(distinct_id, bool) or not isinstance(distinct_id, str | int | float):
        return FieldError("distinct_id", "must be a non-empty string", index)
    distinct_id = str(distinct_id).strip()
    if not distinct_id:
        return FieldError("distinct_id", "must be a non-empty string", index)
    if len(distinct_id) > MAX_DISTINCT_ID_CHARS:
        return FieldError("distinct_id", f"longer than {MAX_DISTINCT_ID_CHARS} characters", index)

    if ev.uuid is None:
        event_uuid = uuid7()
    else:
        try:
            event_uuid = str(uuidlib.UUID(str(ev.uuid)))
        except ValueError:
            return FieldError("uuid", "is not a valid UUID", index)

    timestamp = _event_time(ev, props, now, sent_at)
    if isinstance(timestamp, str):
        return FieldError(timestamp.split(":", 1)[0], timestamp.split(":", 1)[1].strip(), index)

    for key, value in (("$set", ev.set), ("$set_once", ev.set_once)):
        if value is None:
            continue
        if not isinstance(value, dict):
            return FieldError(key, "must be an object", index)
        existing = props.get(key)
        props[key] = {**value, **existing} if isinstance(existing, dict) else value

    if ev.event == replay.SNAPSHOT_EVENT:
        # Recordings go to the replay service, which needs these (see schemas.replay).
        problem = replay.properties_problem(props)
        if problem is not None:
            return FieldError(problem.field, problem.reason, index)

    if may_hold_nul:
        for name, value in (
            ("event", ev.event),
            ("distinct_id", distinct_id),
            ("properties", props),
        ):
            if _holds_nul(value):
                return FieldError(name, "must not contain NUL (U+0000) characters", index)

    # The token authenticated the request; it is not a property of the event.
    for key in ("token", "$token"):
        if token is not None and props.get(key) == token:
            del props[key]

    return CapturedEvent(
        uuid=event_uuid,
        event=ev.event,
        distinct_id=distinct_id,
        timestamp=timestamp,
        properties=props,
    )


def _event_time(
    ev: _RawEvent, props: dict[str, Any], now: datetime, sent_at: datetime | None
) -> datetime | str:
    """The corrected event time in UTC, or ``"field: reason"`` when it can't be read."""
    if ev.timestamp is not None:
        ts = _parse_time(ev.timestamp)
        if ts is None:
            return "timestamp: is not an ISO 8601 date-time or epoch milliseconds"
        try:
            if sent_at is not None and not props.get("$ignore_sent_at"):
                # The client's clock is off by (sent_at - now): the event happened that long ago.
                ts = now + (ts - sent_at)
            # UTC, so that the day of the timestamp is the day of the partition the row goes to.
            ts = ts.astimezone(UTC)
        except OverflowError:
            return "timestamp: is out of range"
    elif ev.offset is not None:
        if isinstance(ev.offset, bool) or not isinstance(ev.offset, int | float):
            return "offset: must be a number of milliseconds"
        try:
            ts = now - timedelta(milliseconds=float(ev.offset))
        except OverflowError:
            return "offset: is out of range"
    else:
        ts = now
    if ts - now > FUTURE_TOLERANCE:
        ts = now
    return ts


def _parse_time(value: Any) -> datetime | None:
    try:
        if isinstance(value, str):
            ts = datetime.fromisoformat(value.strip())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            ts = datetime.fromtimestamp(value / 1000, UTC)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _ms(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _holds_nul(value: Any) -> bool:
    # Iterative: properties may be nested nearly as deep as the decoder's recursion limit.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _first_token(*candidates: Any) -> str | None:
    for value in candidates:
        if isinstance(value, str) and value:
            return value
    return None


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7), so server-assigned ids sort by arrival."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuidlib.UUID(int=value))
