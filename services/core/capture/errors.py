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
    """A capture body that is unreadable or breaks the protocol (400)."""

    title = "Invalid capture request"


class CaptureTooLarge(PayloadTooLarge):
    """A capture body, event or snapshot too large to accept (413)."""

    title = "Capture request too large"


class InvalidToken(Unauthorized):
    """The project token is missing or unknown (401)."""

    title = "Invalid project token"
