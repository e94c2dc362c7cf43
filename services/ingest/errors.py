"""Errors of the ingest service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.capture.errors import CaptureTooLarge, InvalidCapture, InvalidToken
from services.core.errors import DomainError, NotFound, Unauthorized

# The capture protocol's errors are the kernel's (services.core.capture), named here too.
__all__ = [
    "CaptureTooLarge",
    "InvalidCapture",
    "InvalidQuery",
    "InvalidSecretKey",
    "InvalidToken",
    "PersonNotFound",
]


class InvalidSecretKey(Unauthorized):
    """The secret key is missing or unknown (401)."""

    title = "Invalid secret key"


class PersonNotFound(NotFound):
    """No person has the distinct id (404)."""

    title = "Person not found"


class InvalidQuery(DomainError):
    """A read's query parameters are not valid (400)."""

    title = "Invalid query"
