"""Capture bodies decoded by the kernel's PostHog body decoder, with ingest's error titles."""

from __future__ import annotations

from services.core import bodies
from services.core.bodies import MAX_EVENT_BYTES, MAX_REQUEST_BYTES
from services.ingest.errors import CaptureTooLarge, InvalidCapture

__all__ = ["MAX_EVENT_BYTES", "MAX_REQUEST_BYTES", "decode_body"]


def decode_body(
    body: bytes, content_encoding: str, content_type: str, compression: str | None
) -> bytes:
    try:
        return bodies.decode_body(body, content_encoding, content_type, compression)
    except bodies.BodyTooLarge as exc:
        raise CaptureTooLarge(exc.detail, exc.errors) from None
    except bodies.InvalidBody as exc:
        raise InvalidCapture(exc.detail, exc.errors) from None
