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
    """Missing or invalid credentials (401)."""

    status = 401
    title = "Unauthorized"


class NotFound(DomainError):
    """The resource does not exist, or not in the caller's project (404)."""

    status = 404
    title = "Not found"


class PayloadTooLarge(DomainError):
    """The request is larger than the endpoint accepts (413)."""

    status = 413
    title = "Payload too large"


class Unavailable(DomainError):
    """A dependency (the broker, the database) can't serve the request now (503)."""

    status = 503
    title = "Service unavailable"
