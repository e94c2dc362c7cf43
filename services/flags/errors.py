"""Errors of the flags service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound, Unauthorized


class InvalidFlag(DomainError):
    """A flag definition or scheduled change is not valid (400)."""

    title = "Invalid feature flag"


class InvalidRequest(DomainError):
    """A request's parameters or body are not valid (400)."""

    title = "Invalid request"


class FlagNotFound(NotFound):
    """The project has no flag with that key (404)."""

    title = "Feature flag not found"


class ScheduleNotFound(NotFound):
    """The flag has no scheduled change with that id (404)."""

    title = "Scheduled change not found"


class CohortNotFound(NotFound):
    """The project has no cohort with that id (404)."""

    title = "Cohort not found"


class VersionConflict(DomainError):
    """``If-Match`` names another version than the flag's current one (409)."""

    status = 409
    title = "Version conflict"


class StateConflict(DomainError):
    """The change is refused in the current state: archived, depended on, used (409)."""

    status = 409
    title = "Conflict"


class InvalidToken(Unauthorized):
    """The project token is missing, unknown or not the secret key's project (401)."""

    title = "Invalid project token"
