"""Errors of the experiments service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound


class InvalidExperiment(DomainError):
    """An experiment body or state change that breaks a rule (400)."""

    title = "Invalid experiment"


class ExperimentNotFound(NotFound):
    """No experiment with this id in the caller's project (404)."""

    title = "Experiment not found"


class StateConflict(DomainError):
    """The experiment's status forbids the change: launch a non-draft, stop a non-running,
    results before launch, flag or start changed after launch (409)."""

    status = 409
    title = "Conflict"
