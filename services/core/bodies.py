"""Request bodies. PostHog's body encodings (gzip, base64 forms, lz64) are part of the capture
protocol and live in :mod:`services.core.capture.encoding`; they are named here for the flags
service's ``/flags`` and ``/decide``, which PostHog SDKs encode the same way."""

from __future__ import annotations

from services.core.capture.encoding import decode_body
from services.core.capture.errors import BodyTooLarge, InvalidBody

__all__ = ["BodyTooLarge", "InvalidBody", "decode_body"]
