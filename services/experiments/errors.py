"""Errors of the experiments service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound


class InvalidExperiment(DomainError):
    title = "Invalid experiment"


class ExperimentNotFound(NotFound):
    title = "Experiment not found"


class StateConflict(DomainError):
    status = 409
    title = "Conflict"
