"""Parse a ``POST /s`` body (already decompressed JSON) into snapshots and per-event errors.

Each event is checked on its own, so one bad event is reported by index and field while the others
are still accepted. ``$snapshot_data`` is never decoded here: it travels as the raw JSON the
browser sent, and the consumer decodes it (quarantining what it can't read).
"""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from schemas import replay
from schemas.api import FieldError
from services.replay.errors import InvalidRecording, RecordingTooLarge

# One $snapshot event may carry a large full snapshot, but not more than NATS takes compressed.
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
MAX_DISTINCT_ID_CHARS = 200


# msgspec.Raw can be no part of a union: a JSON null stands for "absent".
_NULL = msgspec.Raw(b"null")


class _Envelope(msgspec.Struct):
    batch: list[msgspec.Raw] | None = None
    api_key: Any = None
    token: Any = None
    dollar_token: Any = msgspec.field(default=None, name="$token")


class _Props(msgspec.Struct):
    session_id: Any = msgspec.field(default=None, name="$session_id")
    window_id: Any = msgspec.field(default=None, name="$window_id")
    snapshot_data: msgspec.Raw = msgspec.field(default=_NULL, name="$snapshot_data")
    snapshot_bytes: Any = msgspec.field(default=None, name="$snapshot_bytes")
    current_url: Any = msgspec.field(default=None, name="$current_url")
    lib: Any = msgspec.field(default=None, name="$lib")
    distinct_id: Any = None
    token: Any = None
    dollar_token: Any = msgspec.field(default=None, name="$token")


class _RawEvent(msgspec.Struct):
    event: Any = None
    distinct_id: Any = None
    uuid: Any = None
    timestamp: Any = None
    api_key: Any = None
    token: Any = None
    properties: msgspec.Raw = _NULL


_envelope = msgspec.json.Decoder(_Envelope | list[msgspec.Raw])
_event = msgspec.json.Decoder(_RawEvent)
_props = msgspec.json.Decoder(_Props)


@dataclass
class Parsed:
    token: str | None
    snapshots: list[replay.Snapshot] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    total: int = 0


def parse(payload: bytes, now: datetime) -> Parsed:
    try:
        envelope = _envelope.decode(payload)
    except msgspec.DecodeError as exc:
        raise InvalidRecording(
            "the body is not valid JSON", [FieldError("body", str(exc))]
        ) from None
    except msgspec.ValidationError as exc:
        raise InvalidRecording(
            "the body must be a batch object, a list of events or one event",
            [FieldError("body", str(exc))],
        ) from None
    if isinstance(envelope, list):
        raws, token = envelope, None
    elif envelope.batch is not None:
        raws = envelope.batch
        token = _first_str(envelope.api_key, envelope.token, envelope.dollar_token)
    else:
        raws, token = [msgspec.Raw(payload)], None
    if not raws:
        raise InvalidRecording("the batch has no events", [FieldError("batch", "empty")])
    result = Parsed(token=token, total=len(raws))
    single = len(raws) == 1 and not isinstance(envelope, list) and envelope.batch is None
    for index, raw in enumerate(raws):
        one = _one(raw, index, now, result)
        if isinstance(one, FieldError):
            if single and one.field == "size":
                raise RecordingTooLarge(one.reason, [one])
            result.errors.append(one)
        else:
            result.snapshots.append(one)
    return result


def _one(
    raw: msgspec.Raw, index: int, now: datetime, request: Parsed
) -> replay.Snapshot | FieldError:
    if len(raw) > MAX_SNAPSHOT_BYTES:
        return FieldError("size", f"event is larger than {MAX_SNAPSHOT_BYTES} bytes", index)
    try:
        ev = _event.decode(raw)
        props = _props.decode(ev.properties) if bytes(ev.properties) != b"null" else _Props()
    except (msgspec.DecodeError, msgspec.ValidationError):
        return FieldError("event", "each event must be a JSON object with object properties", index)
    except RecursionError:
        return FieldError("properties", "nested too deeply", index)
    # The token first: a bad event is reported to its project (400), not refused as 401.
    token = _first_str(ev.api_key, ev.token, props.token, props.dollar_token)
    if token is not None:
        if request.token is None:
            request.token = token
        elif token != request.token:
            return FieldError("api_key", "differs from the token of the request", index)
    if ev.event != replay.SNAPSHOT_EVENT:
        return FieldError(
            "event", "only $snapshot events are accepted here; send others to /batch", index
        )
    distinct_id = ev.distinct_id if ev.distinct_id is not None else props.distinct_id
    if isinstance(distinct_id, bool) or not isinstance(distinct_id, str | int | float):
        return FieldError("distinct_id", "must be a non-empty string", index)
    distinct_id = str(distinct_id).strip()
    if not distinct_id or len(distinct_id) > MAX_DISTINCT_ID_CHARS or "\x00" in distinct_id:
        return FieldError(
            "distinct_id", f"must be 1 to {MAX_DISTINCT_ID_CHARS} characters, no NUL", index
        )
    reason = replay.session_id_problem(props.session_id)
    if reason:
        return FieldError("$session_id", reason, index)
    if props.window_id is not None and (
        not isinstance(props.window_id, str) or "\x00" in props.window_id
    ):
        return FieldError("$window_id", "must be a string without NUL", index)
    data = props.snapshot_data
    if bytes(data) == b"null":
        return FieldError("$snapshot_data", "missing", index)
    raw_data = bytes(data)
    if raw_data[:1] not in (b"[", b"{") or raw_data == b"[]":
        return FieldError("$snapshot_data", "must be a non-empty list of rrweb events", index)
    timestamp = _time(ev.timestamp, now)
    if timestamp is None:
        return FieldError("timestamp", "is not an ISO 8601 date-time or epoch milliseconds", index)
    if ev.uuid is None:
        # A retried request without uuids must still be stored once: derive one from the content.
        digest = hashlib.sha256(raw_data + props.session_id.encode()).digest()
        event_uuid = str(uuidlib.UUID(bytes=digest[:16], version=4))
    else:
        try:
            event_uuid = str(uuidlib.UUID(str(ev.uuid)))
        except ValueError:
            return FieldError("uuid", "is not a valid UUID", index)
    return replay.snapshot(
        uuid=event_uuid,
        distinct_id=distinct_id,
        timestamp=timestamp,
        session_id=props.session_id,
        data=data,
        window_id=props.window_id,
        current_url=props.current_url,
        snapshot_bytes=props.snapshot_bytes,
        lib=props.lib,
    )


def _time(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return now
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


def _first_str(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return None
