"""HTTP response bodies of the ingest and core APIs."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import Any

import msgspec


class CaptureAccepted(msgspec.Struct, frozen=True):
    status: int = 1


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why part of a request was refused; ``index`` is the event's position in a batch."""

    field: str
    reason: str
    index: int | None = None


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 9457 problem details, extended with the field errors and capture counts."""

    title: str
    status: int
    type: str = "about:blank"
    detail: str | None = None
    errors: list[FieldError] | None = None
    accepted: int | None = None
    rejected: list[int] | None = None


class EventOut(msgspec.Struct, frozen=True):
    uuid: str
    event: str
    distinct_id: str
    person_id: str | None
    timestamp: datetime
    properties: dict[str, Any]


class EventsPage(msgspec.Struct, frozen=True):
    results: list[EventOut]
    next_cursor: str | None


class PersonOut(msgspec.Struct, frozen=True):
    id: str
    distinct_ids: list[str]
    properties: dict[str, Any]
    created_at: datetime


class ProjectOut(msgspec.Struct, frozen=True):
    id: int
    name: str
    token: str
    secret_key: str
    created_at: datetime


class CheckResult(msgspec.Struct, frozen=True, omit_defaults=True):
    ok: bool
    detail: str | None = None


class ReadyOut(msgspec.Struct, frozen=True):
    ready: bool
    postgres: CheckResult
    nats: CheckResult
    storage_mode: str
