"""The uuid and timestamp rules, the same for every event on every capture endpoint.

**uuid.** The client's, when it sends one that parses as a UUID (any spelling; stored canonical).
Otherwise a server-assigned UUIDv7, new on every request. A content hash was considered (it would
let a retried request without uuids dedupe) and refused: the writer stores each ``(project,
uuid)`` once, so two genuinely identical events (a heartbeat sent twice, no timestamp) would
collapse into one and an acknowledged event would be lost. Every PostHog SDK and ours send a
uuid with each event, which is what makes their retries exactly-once.

**timestamp.** The event's ``timestamp`` (ISO 8601 or epoch milliseconds), corrected for the
client's clock skew with ``sent_at`` (the event's own, else the request's, else ``?_=`` in
milliseconds) unless ``$ignore_sent_at``; else ``offset`` milliseconds before arrival; else the
time of arrival. More than :data:`FUTURE_TOLERANCE` ahead of the server means a broken clock: the
time of arrival is used. Always UTC, so the day of the timestamp is the day of the partition.
"""

from __future__ import annotations

import os
import time
import uuid as uuidlib
from datetime import UTC, datetime, timedelta
from typing import Any

from services.core.capture.limits import FUTURE_TOLERANCE


def event_uuid(given: Any) -> str | None:
    """The event's uuid by the rule above, or None when the client sent one that is not a UUID."""
    if given is None:
        return uuid7()
    try:
        return str(uuidlib.UUID(str(given)))
    except ValueError:
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


def event_time(
    timestamp: Any, offset: Any, now: datetime, sent_at: datetime | None
) -> datetime | tuple[str, str]:
    """The corrected event time in UTC, or ``(field, reason)`` when it can't be read.

    ``sent_at`` is None when the client sent none or asked to keep its timestamp as is."""
    if timestamp is not None:
        ts = parse_time(timestamp)
        if ts is None:
            return ("timestamp", "is not an ISO 8601 date-time or epoch milliseconds")
        try:
            if sent_at is not None:
                # The client's clock is off by (sent_at - now): the event happened that long ago.
                ts = now + (ts - sent_at)
            ts = ts.astimezone(UTC)
        except OverflowError:
            return ("timestamp", "is out of range")
    elif offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int | float):
            return ("offset", "must be a number of milliseconds")
        try:
            ts = now - timedelta(milliseconds=float(offset))
        except OverflowError:
            return ("offset", "is out of range")
    else:
        ts = now
    if ts - now > FUTURE_TOLERANCE:
        ts = now
    return ts


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (naive means UTC) or epoch milliseconds, as an aware datetime."""
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


def query_time_ms(value: str | None) -> datetime | None:
    """``?_=`` (posthog-js's send time, epoch milliseconds), or None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
