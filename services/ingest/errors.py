"""Errors of the ingest service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound, PayloadTooLarge, Unauthorized


class InvalidCapture(DomainError):
    title = "Invalid capture request"


class CaptureTooLarge(PayloadTooLarge):
    title = "Capture request too large"


class InvalidToken(Unauthorized):
    title = "Invalid project token"


class InvalidSecretKey(Unauthorized):
    title = "Invalid secret key"


class PersonNotFound(NotFound):
    title = "Person not found"


class InvalidQuery(DomainError):
    title = "Invalid query"
