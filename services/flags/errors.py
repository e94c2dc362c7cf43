"""Errors of the flags service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound, Unauthorized


class InvalidFlag(DomainError):
    title = "Invalid feature flag"


class InvalidRequest(DomainError):
    title = "Invalid request"


class FlagNotFound(NotFound):
    title = "Feature flag not found"


class ScheduleNotFound(NotFound):
    title = "Scheduled change not found"


class CohortNotFound(NotFound):
    title = "Cohort not found"


class VersionConflict(DomainError):
    status = 409
    title = "Version conflict"


class StateConflict(DomainError):
    status = 409
    title = "Conflict"


class InvalidToken(Unauthorized):
    title = "Invalid project token"
