"""Errors of the replay service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound


class InvalidQuery(DomainError):
    title = "Invalid query"


class InvalidSettings(DomainError):
    title = "Invalid replay settings"


class ReplayNotFound(NotFound):
    title = "Recording not found"


class AssetNotBuilt(NotFound):
    title = "Not built"
