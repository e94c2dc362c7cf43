"""Replay use cases: accept recordings, list and read sessions, delete them, retention settings."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.api import FieldError
from schemas.replay import ReplayList, ReplayOut, ReplaySettings, SessionEvents
from services.core import capture as protocol
from services.core import cursors
from services.core.capture import recordings
from services.replay import repo
from services.replay.config import ReplayConfig
from services.replay.errors import InvalidQuery, InvalidSettings, ReplayNotFound

if TYPE_CHECKING:
    from services.core.service import Context

MAX_PAGE = 200
MAX_EVENTS = 5000


def config_of(ctx: Context) -> ReplayConfig:
    """The replay settings, read at start-up (``DEVFLOW_REPLAY_*``)."""
    return ctx.settings_of(ReplayConfig)


@dataclass(frozen=True)
class CaptureResult:
    """How many snapshots a capture request accepted, and the errors of the events it refused."""

    accepted: int
    errors: list[FieldError]


async def capture(ctx: Context, req: protocol.CaptureRequest) -> CaptureResult:
    """Validate, authenticate and publish; returns once JetStream acknowledged every snapshot."""
    accepted = await protocol.accept(ctx, req, snapshots_only=True)
    parsed = accepted.parsed
    if parsed.snapshots:
        await recordings.publish(ctx, accepted.project_id, accepted.now, parsed.snapshots)
    return CaptureResult(accepted=parsed.accepted, errors=parsed.errors)


# -- reads ---------------------------------------------------------------------------------------


class _Cursor(msgspec.Struct, array_like=True):
    start_time: datetime
    session_id: str


def _encode_cursor(row: ReplayOut) -> str:
    return cursors.encode(_Cursor(row.start_time, row.session_id))


def _decode_cursor(value: str) -> _Cursor:
    position = cursors.decode(value, _Cursor)
    if position is None:
        raise InvalidQuery(
            "the cursor is not valid", [FieldError("cursor", "not a cursor from next")]
        )
    return position


def _text(name: str, value: str | None, limit: int = 1000) -> str | None:
    if value is None:
        return None
    if "\x00" in value or len(value) > limit:
        raise InvalidQuery(
            f"{name} is not valid", [FieldError(name, f"at most {limit} characters, no NUL")]
        )
    return value


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQuery(
            f"{name} is not a date-time", [FieldError(name, "expected ISO 8601")]
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def session_id_param(session_id: str) -> str:
    """The session id, checked; :class:`InvalidQuery` says what is wrong with it."""
    reason = recordings.session_id_problem(session_id)
    if reason:
        raise InvalidQuery("the session id is not valid", [FieldError("session_id", reason)])
    return session_id


@dataclass(frozen=True)
class ListQuery:
    """The recordings list's filters, page size and cursor as given; checked by
    :func:`list_replays`."""

    distinct_id: str | None = None
    person_id: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    min_duration_ms: int | None = None
    url_contains: str | None = None
    has_console_errors: bool | None = None
    limit: int = 50
    cursor: str | None = None


async def list_replays(ctx: Context, project_id: int, q: ListQuery) -> ReplayList:
    """A page of the project's recordings, newest first, with the next page's cursor;
    :class:`InvalidQuery` for a bad filter, limit or cursor."""
    if not 1 <= q.limit <= MAX_PAGE:
        raise InvalidQuery(
            f"limit must be between 1 and {MAX_PAGE}",
            [FieldError("limit", f"must be between 1 and {MAX_PAGE}")],
        )
    if q.min_duration_ms is not None and q.min_duration_ms < 0:
        raise InvalidQuery(
            "min_duration_ms must be >= 0", [FieldError("min_duration_ms", "must be >= 0")]
        )
    person_id = _text("person_id", q.person_id)
    if person_id is not None:
        try:
            person_id = str(uuidlib.UUID(person_id))
        except ValueError:
            raise InvalidQuery(
                "person_id is not a UUID", [FieldError("person_id", "not a UUID")]
            ) from None
    position = _decode_cursor(q.cursor) if q.cursor else None
    params: dict[str, Any] = {
        "project_id": project_id,
        "distinct_id": _text("distinct_id", q.distinct_id),
        "person_id": person_id,
        "date_from": _time("date_from", q.date_from),
        "date_to": _time("date_to", q.date_to),
        "min_duration_ms": q.min_duration_ms,
        "url_contains": _text("url_contains", q.url_contains) or None,
        "has_console_errors": q.has_console_errors,
        "cursor_time": position.start_time if position else None,
        "cursor_id": position.session_id if position else None,
        "limit": q.limit + 1,
    }
    async with ctx.pool.connection() as conn:
        rows = await repo.select_sessions(conn, params)
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return ReplayList(results=rows, next=_encode_cursor(rows[-1]) if more and rows else None)


async def get_replay(ctx: Context, project_id: int, session_id: str) -> ReplayOut:
    """A recording's metadata; :class:`InvalidQuery` for a bad id, :class:`ReplayNotFound`."""
    session_id_param(session_id)
    async with ctx.pool.connection() as conn:
        row = await repo.select_session(conn, project_id, session_id)
    if row is None:
        raise ReplayNotFound(
            "no recording has this session id", [FieldError("session_id", "not found")]
        )
    return row


async def delete_replay(ctx: Context, project_id: int, session_id: str) -> None:
    """Delete a recording and all stored for it; :class:`ReplayNotFound` when there is none.

    Under the session's lock, which the consumer takes too: a batch in flight for the session
    is stored wholly before the delete or wholly after it, never interleaved.
    """
    session_id_param(session_id)
    async with ctx.pool.connection() as conn, conn.transaction():
        await repo.lock_sessions(conn, [(project_id, session_id)])
        found = await repo.delete_session(conn, project_id, session_id)
    if not found:
        raise ReplayNotFound(
            "no recording has this session id", [FieldError("session_id", "not found")]
        )


async def session_events(
    ctx: Context, project_id: int, session_id: str, limit: int
) -> SessionEvents:
    """The session's analytics events in time order, at most ``limit`` (``truncated`` if more);
    :class:`InvalidQuery` for a bad limit or id, :class:`ReplayNotFound`."""
    if not 1 <= limit <= MAX_EVENTS:
        raise InvalidQuery(
            f"limit must be between 1 and {MAX_EVENTS}",
            [FieldError("limit", f"must be between 1 and {MAX_EVENTS}")],
        )
    meta = await get_replay(ctx, project_id, session_id)
    async with ctx.pool.connection() as conn:
        rows = await repo.select_session_events(
            conn, project_id, session_id, meta.start_time, meta.end_time, limit + 1
        )
    return SessionEvents(results=rows[:limit], truncated=len(rows) > limit)


async def get_settings(ctx: Context, project_id: int) -> ReplaySettings:
    """The project's settings; the configured default retention when it set none."""
    async with ctx.pool.connection() as conn:
        days = await repo.select_retention(conn, project_id)
    return ReplaySettings(retention_days=days or config_of(ctx).retention_days)


async def put_settings(ctx: Context, project_id: int, settings: ReplaySettings) -> ReplaySettings:
    """Store the project's retention; :class:`InvalidSettings` outside 1 to 3650 days."""
    if not 1 <= settings.retention_days <= 3650:
        raise InvalidSettings(
            "retention_days must be between 1 and 3650",
            [FieldError("retention_days", "must be between 1 and 3650")],
        )
    async with ctx.pool.connection() as conn:
        await repo.upsert_retention(conn, project_id, settings.retention_days)
    return settings
