"""Errors of the replay service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound


class InvalidQuery(DomainError):
    """A filter, limit, cursor or session id that is not valid (400)."""

    title = "Invalid query"


class InvalidSettings(DomainError):
    """Replay settings out of range or unreadable (400)."""

    title = "Invalid replay settings"


class ReplayNotFound(NotFound):
    """No recording with this session id in the project, or no project with a remote config's
    token (404)."""

    title = "Recording not found"


class AssetNotBuilt(NotFound):
    """A static file that is unknown, or not built or installed yet (404)."""

    title = "Not built"
