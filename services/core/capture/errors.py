"""Errors of the capture protocol; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, PayloadTooLarge, Unauthorized


class InvalidBody(DomainError):
    """A body whose PostHog encoding (gzip, base64, form, lz64) can't be undone."""

    title = "Invalid request body"


class BodyTooLarge(PayloadTooLarge):
    title = "Request body too large"


class InvalidCapture(DomainError):
    title = "Invalid capture request"


class CaptureTooLarge(PayloadTooLarge):
    title = "Capture request too large"


class InvalidToken(Unauthorized):
    title = "Invalid project token"
