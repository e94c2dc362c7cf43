"""Errors of the insights service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, Unavailable


class InvalidQuery(DomainError):
    """A query the engine can't answer as asked: a bad or unsupported field (400)."""

    title = "Invalid query"


class InvalidSettings(DomainError):
    """Insights settings that are not valid (400)."""

    title = "Invalid insights settings"


class QueryTimedOut(Unavailable):
    """A query that ran past ``DEVFLOW_INSIGHTS_STATEMENT_TIMEOUT_MS`` (503)."""

    title = "Query timed out"
