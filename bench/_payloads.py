"""Synthetic PostHog events, encoded once before a measurement in every shape it needs.

The same events become HTTP bodies (what SDKs send), ``EVENTS`` messages (what the API publishes)
and a binary COPY stream (what the ceiling writes), so every path carries identical data.
"""

from __future__ import annotations

import random
import struct
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from schemas.events import CapturedEvent, EventBatch

# Weights roughly follow what a posthog-js site sends: mostly page views and autocapture.
EVENT_NAMES = ("$pageview", "$autocapture", "$pageleave", "button_clicked", "signed_up")
EVENT_WEIGHTS = (50, 25, 10, 12, 3)
BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
SYSTEMS = ("Mac OS X", "Windows", "Linux", "iOS", "Android")
PATHS = ("/", "/pricing", "/docs/getting-started", "/projects/42/insights", "/settings/billing")
# Share of events that also update the person (``$set``), which the writer's projection applies.
SET_RATIO = 0.01

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Event:
    uuid: uuidlib.UUID
    event: str
    distinct_id: str
    timestamp: datetime
    properties: bytes  # JSON object, encoded once


def generate(count: int, seed: int, users: int = 10_000) -> list[Event]:
    """``count`` distinct events (fresh uuids) of ``users`` people, stamped in the last minute.

    Recent timestamps keep every row in today's partition, as live traffic would be.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    names = rng.choices(EVENT_NAMES, EVENT_WEIGHTS, k=count)
    out = []
    for i, name in enumerate(names):
        user = rng.randrange(users)
        props: dict[str, object] = {
            "$current_url": f"https://app.example.com{PATHS[i % len(PATHS)]}",
            "$host": "app.example.com",
            "$pathname": PATHS[i % len(PATHS)],
            "$browser": BROWSERS[user % len(BROWSERS)],
            "$browser_version": 120 + user % 7,
            "$os": SYSTEMS[user % len(SYSTEMS)],
            "$device_type": "Desktop",
            "$screen_height": 1080,
            "$screen_width": 1920,
            "$lib": "web",
            "$lib_version": "1.160.0",
            "$referrer": "$direct",
            "$session_id": f"018f{user:08x}-0000-7000-8000-{i // 50:012x}",
            "$window_id": f"018f{user:08x}-0001-7000-8000-{i // 50:012x}",
            "plan": "pro" if user % 3 else "free",
        }
        if rng.random() < SET_RATIO:
            props["$set"] = {"plan": props["plan"], "last_seen_path": props["$pathname"]}
        out.append(
            Event(
                uuid=uuidlib.UUID(int=rng.getrandbits(128), version=4),
                event=name,
                distinct_id=f"user-{user}",
                timestamp=now - timedelta(microseconds=rng.randrange(60_000_000)),
                properties=_encoder.encode(props),
            )
        )
    return out


def _wire(e: Event) -> dict[str, object]:
    return {
        "event": e.event,
        "distinct_id": e.distinct_id,
        "uuid": str(e.uuid),
        "timestamp": e.timestamp,
        "properties": msgspec.Raw(e.properties),
    }


def batch_bodies(token: str, events: list[Event], per_request: int) -> list[bytes]:
    """``POST /batch`` bodies as posthog-python sends them: the token and a list of events."""
    return [
        _encoder.encode(
            {"api_key": token, "batch": [_wire(e) for e in events[i : i + per_request]]}
        )
        for i in range(0, len(events), per_request)
    ]


def single_bodies(token: str, events: list[Event]) -> list[bytes]:
    """``POST /capture`` bodies, one event each."""
    return [_encoder.encode({"api_key": token, **_wire(e)}) for e in events]


def bus_messages(project_id: int, events: list[Event], per_message: int) -> list[bytes]:
    """The ``EVENTS`` messages the API would publish for these events, ``per_message`` each."""
    decode = msgspec.json.Decoder(dict[str, object]).decode
    captured = [
        CapturedEvent(str(e.uuid), e.event, e.distinct_id, e.timestamp, decode(e.properties))
        for e in events
    ]
    now = datetime.now(UTC)
    return [
        _encoder.encode(EventBatch(project_id, now, captured[i : i + per_message]))
        for i in range(0, len(captured), per_message)
    ]


# --- PostgreSQL binary COPY ----------------------------------------------------------------------

COPY_EVENTS = """
COPY events (project_id, uuid, event, distinct_id, person_id, "timestamp", properties)
FROM STDIN (FORMAT BINARY)
"""
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_JSONB_VERSION = b"\x01"


def copy_binary(project_id: int, events: list[Event]) -> bytes:
    """The rows of ``events`` as one binary COPY stream for :data:`COPY_EVENTS`.

    Encoded here, outside the timed section, so the ceiling measures PostgreSQL and not Python.
    Each person id is derived from the distinct id, standing in for the projection's answer.
    """
    parts = [_HEADER]
    pid = struct.pack("!iq", 8, project_id)
    for e in events:
        name, distinct = e.event.encode(), e.distinct_id.encode()
        person = uuidlib.uuid5(uuidlib.NAMESPACE_OID, e.distinct_id).bytes
        micros = (e.timestamp - _PG_EPOCH) // timedelta(microseconds=1)
        props = _JSONB_VERSION + e.properties
        parts += [
            b"\x00\x07",
            pid,
            b"\x00\x00\x00\x10",
            e.uuid.bytes,
            struct.pack("!i", len(name)),
            name,
            struct.pack("!i", len(distinct)),
            distinct,
            b"\x00\x00\x00\x10",
            person,
            struct.pack("!iq", 8, micros),
            struct.pack("!i", len(props)),
            props,
        ]
    parts.append(_TRAILER)
    return b"".join(parts)
