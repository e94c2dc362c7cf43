"""PostHog's capture protocol, once, for every capture endpoint (ingest's ``/batch`` … and
replay's ``/s``).

- :mod:`.encoding`: request bodies (gzip, deflate, base64, ``data=`` forms, lz64) to JSON bytes;
- :mod:`.parse`: payload shapes, per-event validation and field errors;
- :mod:`.rules`: the uuid and timestamp rules; :mod:`.limits`: every size limit;
- :mod:`.recordings`: ``$snapshot`` events as REPLAY messages, and publishing them;
- :mod:`.endpoint`: reading the HTTP request, authenticating the project, the answers.

A service keeps only what is its own: where the parsed events go.
"""

from __future__ import annotations

from services.core.capture.endpoint import (
    Accepted,
    CaptureRequest,
    accept,
    capture_request,
    capture_response,
    decode_request,
    read,
)
from services.core.capture.errors import CaptureTooLarge, InvalidCapture, InvalidToken
from services.core.capture.parse import ParsedRequest, parse

__all__ = [
    "Accepted",
    "CaptureRequest",
    "CaptureTooLarge",
    "InvalidCapture",
    "InvalidToken",
    "ParsedRequest",
    "accept",
    "capture_request",
    "capture_response",
    "decode_request",
    "parse",
    "read",
]
