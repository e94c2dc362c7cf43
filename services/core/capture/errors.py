"""Errors of the capture protocol; the kernel's handler turns them into problem+json."""

from __future__ import annotations

# A body whose encoding can't be undone is the same error as any other unreadable body.
from services.core.bodies import BodyTooLarge, InvalidBody
from services.core.errors import DomainError, PayloadTooLarge, Unauthorized

__all__ = [
    "BodyTooLarge",
    "CaptureTooLarge",
    "InvalidBody",
    "InvalidCapture",
    "InvalidToken",
]


class InvalidCapture(DomainError):
    title = "Invalid capture request"


class CaptureTooLarge(PayloadTooLarge):
    title = "Capture request too large"


class InvalidToken(Unauthorized):
    title = "Invalid project token"
