"""The kernel's error tree. Services subclass :class:`DomainError`; one handler maps it to HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.api import FieldError


class DevflowError(Exception):
    """Base of every error the platform raises on purpose."""


class ConfigError(DevflowError):
    """A setting is missing or malformed; raised at start-up, printed without a traceback."""


class StartupError(DevflowError):
    """A dependency (port, database, broker) is not usable; printed without a traceback."""


class DomainError(DevflowError):
    """An error with an HTTP meaning. ``errors`` name the fields at fault."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        errors: list[FieldError] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


class Unavailable(DomainError):
    status = 503
    title = "Service unavailable"
