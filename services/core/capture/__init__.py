"""PostHog's capture protocol, once, for every capture endpoint (ingest's ``/batch`` … and
replay's ``/s``).

- :mod:`.encoding`: request bodies (gzip, deflate, base64, ``data=`` forms, lz64) to JSON bytes;
- :mod:`.parse`: payload shapes, per-event validation and field errors;
- :mod:`.rules`: the uuid and timestamp rules; :mod:`.limits`: every size limit;
- :mod:`.recordings`: ``$snapshot`` events as REPLAY messages, and publishing them.

A service keeps only what is its own: where the parsed events go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.core.capture.encoding import decode_body
from services.core.capture.errors import (
    BodyTooLarge,
    CaptureTooLarge,
    InvalidBody,
    InvalidCapture,
)
from services.core.capture.parse import ParsedRequest, parse

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "CaptureTooLarge",
    "InvalidCapture",
    "ParsedRequest",
    "decode_request",
    "parse",
    "read",
]


def decode_request(
    body: bytes, content_encoding: str, content_type: str, compression: str | None
) -> bytes:
    """:func:`.encoding.decode_body` with the capture endpoints' error titles."""
    try:
        return decode_body(body, content_encoding, content_type, compression)
    except BodyTooLarge as exc:
        raise CaptureTooLarge(exc.detail, exc.errors) from None
    except InvalidBody as exc:
        raise InvalidCapture(exc.detail, exc.errors) from None


def read(
    body: bytes,
    *,
    content_encoding: str,
    content_type: str,
    compression: str | None,
    now: datetime,
    query_sent_at_ms: str | None = None,
    snapshots_only: bool = False,
) -> ParsedRequest:
    """A capture request's body, decoded and parsed: what every capture endpoint does first."""
    payload = decode_request(body, content_encoding, content_type, compression)
    return parse(payload, now=now, query_sent_at_ms=query_sent_at_ms, snapshots_only=snapshots_only)
