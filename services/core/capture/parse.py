"""PostHog capture payloads, split into valid events, recordings and per-event field errors.

Shapes accepted (unknown fields are ignored, as by PostHog): one event object; a list of events
(posthog-js's ``/e`` and ``/s``); ``{"batch": [...], "api_key", "sent_at"}`` (posthog-python,
posthog-node, posthog-js's capture body). Each event is checked on its own, so one bad event is
reported by index and field while the others are still accepted. ``$snapshot`` events become
:class:`schemas.replay.Snapshot` values (their ``$snapshot_data`` kept as the raw JSON sent),
every other event a :class:`schemas.events.CapturedEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from schemas import replay
from schemas.api import FieldError
from schemas.events import CapturedEvent
from services.core.capture import recordings, rules
from services.core.capture.errors import CaptureTooLarge, InvalidCapture
from services.core.capture.limits import (
    MAX_DISTINCT_ID_CHARS,
    MAX_EVENT_BYTES,
    MAX_NAME_CHARS,
    MAX_SNAPSHOT_BYTES,
)

if TYPE_CHECKING:
    from datetime import datetime

# PostgreSQL text and jsonb can't hold U+0000. In JSON it can only arrive escaped, so one substring
# search of the payload tells whether any event needs the precise (slower) check.
_ESCAPED_NUL = b"\\u0000"
# msgspec.Raw can be no part of a union: a JSON null stands for "absent".
_NULL = msgspec.Raw(b"null")


class _Envelope(msgspec.Struct):
    batch: list[msgspec.Raw] | None = None
    api_key: Any = None
    token: Any = None
    dollar_token: Any = msgspec.field(default=None, name="$token")
    sent_at: Any = None


class _RawEvent(msgspec.Struct):
    # Loosely typed on purpose: each field is checked here and named in the error.
    event: Any = None
    distinct_id: Any = None
    properties: msgspec.Raw = _NULL
    timestamp: Any = None
    offset: Any = None
    sent_at: Any = None
    uuid: Any = None
    api_key: Any = None
    token: Any = None
    dollar_token: Any = msgspec.field(default=None, name="$token")
    set: Any = msgspec.field(default=None, name="$set")
    set_once: Any = msgspec.field(default=None, name="$set_once")


class _SnapshotProps(msgspec.Struct):
    # Only what a recording needs; ``$snapshot_data`` stays undecoded (it can be megabytes).
    session_id: Any = msgspec.field(default=None, name="$session_id")
    window_id: Any = msgspec.field(default=None, name="$window_id")
    snapshot_data: msgspec.Raw = msgspec.field(default=_NULL, name="$snapshot_data")
    snapshot_bytes: Any = msgspec.field(default=None, name="$snapshot_bytes")
    current_url: Any = msgspec.field(default=None, name="$current_url")
    lib: Any = msgspec.field(default=None, name="$lib")
    ignore_sent_at: Any = msgspec.field(default=None, name="$ignore_sent_at")
    distinct_id: Any = None
    token: Any = None
    dollar_token: Any = msgspec.field(default=None, name="$token")


_envelope_decoder = msgspec.json.Decoder(_Envelope | list[msgspec.Raw])
_event_decoder = msgspec.json.Decoder(_RawEvent)
_snapshot_props_decoder = msgspec.json.Decoder(_SnapshotProps)
_any_decoder = msgspec.json.Decoder()


@dataclass
class ParsedRequest:
    """The events and recordings of one request, the refused ones as field errors by index."""

    token: str | None
    events: list[CapturedEvent] = field(default_factory=list)
    snapshots: list[replay.Snapshot] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    # Number of events in the request, valid or not.
    total: int = 0

    @property
    def accepted(self) -> int:
        """Events and snapshots accepted."""
        return len(self.events) + len(self.snapshots)


@dataclass
class _Request:
    """What one event's checks need to know of the request around it."""

    now: datetime
    sent_at: datetime | None
    may_hold_nul: bool
    snapshots_only: bool
    parsed: ParsedRequest


def parse(
    payload: bytes,
    *,
    now: datetime,
    query_sent_at_ms: str | None = None,
    snapshots_only: bool = False,
) -> ParsedRequest:
    """Split a JSON capture payload into valid events, snapshots and per-index field errors.

    ``snapshots_only`` (``/s``) refuses every event but ``$snapshot`` by index."""
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
    parsed = ParsedRequest(token=token, total=len(raws))
    request = _Request(
        now=now,
        sent_at=(
            rules.parse_time(sent_at_raw)
            if sent_at_raw is not None
            else rules.query_time_ms(query_sent_at_ms)
        ),
        may_hold_nul=_ESCAPED_NUL in payload,
        snapshots_only=snapshots_only,
        parsed=parsed,
    )
    single = len(raws) == 1 and not isinstance(envelope, list) and envelope.batch is None
    for index, raw in enumerate(raws):
        one = _one(raw, index, request)
        if isinstance(one, FieldError):
            if single and one.field == "size":
                raise CaptureTooLarge(one.reason, [one])
            parsed.errors.append(one)
        elif isinstance(one, CapturedEvent):
            parsed.events.append(one)
        else:
            parsed.snapshots.append(one)
    return parsed


def _one(
    raw: msgspec.Raw, index: int, request: _Request
) -> CapturedEvent | replay.Snapshot | FieldError:
    if len(raw) > MAX_SNAPSHOT_BYTES:
        return FieldError("size", f"event is larger than {MAX_SNAPSHOT_BYTES} bytes", index)
    try:
        ev = _event_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return FieldError("event", "each event must be a JSON object", index)
    except RecursionError:
        return FieldError("properties", "nested too deeply", index)
    if ev.event == replay.SNAPSHOT_EVENT:
        return _snapshot(ev, index, request)
    if len(raw) > MAX_EVENT_BYTES:
        return FieldError("size", f"event is larger than {MAX_EVENT_BYTES} bytes", index)
    try:
        props = _any_decoder.decode(ev.properties)
    except RecursionError:
        return FieldError("properties", "nested too deeply", index)
    props = {} if props is None else props

    # The token is read before anything else is judged, so that a bad event is reported to its
    # project (400) rather than refused as unauthenticated (401).
    prop_tokens = (props.get("token"), props.get("$token")) if isinstance(props, dict) else ()
    token = _first_token(ev.api_key, ev.token, ev.dollar_token, *prop_tokens)
    problem = _token_problem(token, request.parsed)
    if problem:
        return FieldError("api_key", problem, index)
    if request.snapshots_only:
        return _not_a_snapshot(index)
    if not isinstance(props, dict):
        return FieldError("properties", "must be an object", index)
    if not isinstance(ev.event, str) or not ev.event.strip():
        return FieldError("event", "must be a non-empty string", index)
    if len(ev.event) > MAX_NAME_CHARS:
        return FieldError("event", f"longer than {MAX_NAME_CHARS} characters", index)
    distinct_id = _distinct_id(ev.distinct_id, props.get("distinct_id"))
    if isinstance(distinct_id, FieldError):
        return FieldError(distinct_id.field, distinct_id.reason, index)
    event_uuid = rules.event_uuid(ev.uuid)
    if event_uuid is None:
        return FieldError("uuid", "is not a valid UUID", index)
    timestamp = _time(ev, bool(props.get("$ignore_sent_at")), request)
    if isinstance(timestamp, tuple):
        return FieldError(timestamp[0], timestamp[1], index)
    for key, value in (("$set", ev.set), ("$set_once", ev.set_once)):
        if value is None:
            continue
        if not isinstance(value, dict):
            return FieldError(key, "must be an object", index)
        existing = props.get(key)
        props[key] = {**value, **existing} if isinstance(existing, dict) else value
    if request.may_hold_nul:
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


def _snapshot(ev: _RawEvent, index: int, request: _Request) -> replay.Snapshot | FieldError:
    try:
        props = (
            _snapshot_props_decoder.decode(ev.properties)
            if bytes(ev.properties) != b"null"
            else _SnapshotProps()
        )
    except (msgspec.DecodeError, msgspec.ValidationError):
        return FieldError("properties", "must be an object", index)
    except RecursionError:
        return FieldError("properties", "nested too deeply", index)
    token = _first_token(ev.api_key, ev.token, ev.dollar_token, props.token, props.dollar_token)
    problem = _token_problem(token, request.parsed)
    if problem:
        return FieldError("api_key", problem, index)
    distinct_id = _distinct_id(ev.distinct_id, props.distinct_id)
    if isinstance(distinct_id, FieldError):
        return FieldError(distinct_id.field, distinct_id.reason, index)
    reason = recordings.session_id_problem(props.session_id)
    if reason:
        return FieldError("$session_id", reason, index)
    window_id = props.window_id
    if window_id is not None and (not isinstance(window_id, str) or "\x00" in window_id):
        return FieldError("$window_id", "must be a string without NUL", index)
    reason = recordings.data_problem(props.snapshot_data)
    if reason:
        return FieldError("$snapshot_data", reason, index)
    event_uuid = rules.event_uuid(ev.uuid)
    if event_uuid is None:
        return FieldError("uuid", "is not a valid UUID", index)
    timestamp = _time(ev, bool(props.ignore_sent_at), request)
    if isinstance(timestamp, tuple):
        return FieldError(timestamp[0], timestamp[1], index)
    return recordings.snapshot(
        uuid=event_uuid,
        distinct_id=distinct_id,
        timestamp=timestamp,
        session_id=props.session_id,
        data=props.snapshot_data,
        window_id=window_id,
        current_url=props.current_url,
        snapshot_bytes=props.snapshot_bytes,
        lib=props.lib,
    )


def _token_problem(token: str | None, parsed: ParsedRequest) -> str | None:
    """The first token seen is the request's; an event naming another is refused."""
    if token is None:
        return None
    if parsed.token is None:
        parsed.token = token
    elif token != parsed.token:
        return "differs from the token of the request"
    return None


def _not_a_snapshot(index: int) -> FieldError:
    return FieldError(
        "event", "only $snapshot events are accepted here; send others to /batch", index
    )


def _distinct_id(top: Any, from_props: Any) -> str | FieldError:
    value = top if top is not None else from_props
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return FieldError("distinct_id", "must be a non-empty string")
    value = str(value).strip()
    if not value:
        return FieldError("distinct_id", "must be a non-empty string")
    if len(value) > MAX_DISTINCT_ID_CHARS:
        return FieldError("distinct_id", f"longer than {MAX_DISTINCT_ID_CHARS} characters")
    if "\x00" in value:
        return FieldError("distinct_id", "must not contain NUL (U+0000) characters")
    return value


def _time(ev: _RawEvent, ignore_sent_at: bool, request: _Request) -> datetime | tuple[str, str]:
    # posthog-js puts ``sent_at`` on each recording event; it wins over the request's.
    sent_at = rules.parse_time(ev.sent_at) if ev.sent_at is not None else request.sent_at
    return rules.event_time(
        ev.timestamp, ev.offset, request.now, None if ignore_sent_at else sent_at
    )


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
