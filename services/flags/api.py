"""HTTP API of the flags service: admin CRUD, evaluation, local-evaluation definitions, SSE."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post, put
from litestar.response import ServerSentEvent, ServerSentEventMessage

from schemas.api import FieldError
from schemas.flags import (
    CohortIn,
    CohortList,
    CohortOut,
    CohortPatch,
    FlagHistory,
    FlagIn,
    FlagList,
    FlagOut,
    FlagPatch,
    GroupTypeIn,
    GroupTypeList,
    GroupTypeOut,
    ScheduleIn,
    ScheduleList,
    ScheduleOut,
)
from services.core.auth import require_secret_key
from services.core.bodies import read_json
from services.core.http import ctx_of
from services.flags import cohorts, evaluation, service
from services.flags.config import FlagsConfig
from services.flags.definitions import CLOSED, Hub, Snapshot
from services.flags.errors import FlagNotFound, InvalidFlag, InvalidRequest, InvalidToken
from services.flags.state import FlagsState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from devflow_sdk.flags import Evaluation

_encoder = msgspec.json.Encoder()
MAX_ADMIN_BODY = 1024 * 1024
MAX_COHORT_BODY = 16 * 1024 * 1024
JSON = "application/json"

Req = Request[Any, Any, Any]


def hub_of(request: Req) -> Hub:
    """The process's definitions hub, from the app state."""
    return ctx_of(request).state_of(FlagsState).hub


def _actor(request: Req) -> str:
    # Who made a change, as the caller names it (a user's email from an admin UI); the secret
    # key proves the right to change, not the person.
    actor = request.headers.get("x-devflow-actor", "").strip()[:200]
    return actor or "api"


def _as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            "as_of is not a date-time", [FieldError("as_of", "expected ISO 8601")]
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _etagged(flag: FlagOut) -> Response[FlagOut]:
    return Response(flag, headers={"ETag": f'"{flag.version}"'})


# --- admin: flags ---------------------------------------------------------------------------


@get("/api/feature_flags")
async def list_flags(request: Req, archived: bool = False, as_of: str | None = None) -> FlagList:
    """List the project's flags (archived too with ``archived``), or those in force ``as_of``.

    Secret key (401); 400 when ``as_of`` is not ISO 8601.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    moment = _as_of(as_of)
    if moment is not None:
        flags = await service.flags_as_of(ctx, project_id, moment)
        return FlagList(results=flags, count=len(flags))
    return await service.list_flags(ctx, project_id, archived=archived)


@post("/api/feature_flags", status_code=201)
async def create_flag(request: Req) -> Response[FlagOut]:
    """Create a flag; its version comes back as ``ETag``.

    Secret key (401); 400 for an invalid definition or a taken key, 413 over 1 MiB.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, FlagIn, limit=MAX_ADMIN_BODY, error=InvalidFlag)
    flag = await service.create_flag(ctx, project_id, body, _actor(request))
    return Response(flag, status_code=201, headers={"ETag": f'"{flag.version}"'})


@get("/api/feature_flags/{key:str}")
async def get_flag(request: Req, key: str, as_of: str | None = None) -> Response[FlagOut]:
    """One flag by key with its version as ``ETag``, or as it was ``as_of`` (from the log).

    Secret key (401); 404 for no such flag (or none in force at ``as_of``).
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    moment = _as_of(as_of)
    if moment is None:
        return _etagged(await service.get_flag(ctx, project_id, key))
    found = await service.flags_as_of(ctx, project_id, moment, key)
    if not found:
        raise FlagNotFound(
            f"flag {key!r} did not exist (or was archived) at {moment.isoformat()}",
            [FieldError("as_of", "no definition in force then")],
        )
    return _etagged(found[0])


@patch("/api/feature_flags/{key:str}")
async def update_flag(request: Req, key: str) -> Response[FlagOut]:
    """Change part of a flag, conditionally on ``If-Match``; no-op patches make no version.

    Secret key (401); 400 invalid result, 404 unknown key, 409 stale version or archived flag.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    flag = await service.update_flag(
        ctx,
        project_id,
        key,
        await read_json(request, FlagPatch, limit=MAX_ADMIN_BODY, error=InvalidFlag),
        expected_version=service.parse_if_match(request.headers.get("if-match")),
        actor=_actor(request),
    )
    return _etagged(flag)


@delete("/api/feature_flags/{key:str}", status_code=200)
async def archive_flag(request: Req, key: str, reason: str = "") -> Response[FlagOut]:
    """Archive a flag (PostHog's delete); it keeps its key and history.

    Secret key (401); 404 unknown key, 409 stale version or an active flag depends on it.
    """
    return await _set_archived(request, key, archived=True, reason=reason)


@post("/api/feature_flags/{key:str}/restore", status_code=200)
async def restore_flag(request: Req, key: str, reason: str = "") -> Response[FlagOut]:
    """Restore an archived flag.

    Secret key (401); 400 when no longer valid, 404 unknown key, 409 stale version.
    """
    return await _set_archived(request, key, archived=False, reason=reason)


async def _set_archived(
    request: Req, key: str, *, archived: bool, reason: str
) -> Response[FlagOut]:
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    flag = await service.set_archived(
        ctx,
        project_id,
        key,
        archived=archived,
        expected_version=service.parse_if_match(request.headers.get("if-match")),
        actor=_actor(request),
        reason=reason[:1000],
    )
    return _etagged(flag)


@get("/api/feature_flags/{key:str}/history")
async def flag_history(request: Req, key: str) -> FlagHistory:
    """Every version of a flag, oldest first, with diffs. Secret key (401); 404 unknown key."""
    ctx = ctx_of(request)
    return await service.history(ctx, await require_secret_key(request, ctx), key)


@get("/api/feature_flags/{key:str}/schedules")
async def list_schedules(request: Req, key: str) -> ScheduleList:
    """The flag's scheduled changes. Secret key (401); 404 unknown key."""
    ctx = ctx_of(request)
    return await service.list_schedules(ctx, await require_secret_key(request, ctx), key)


@post("/api/feature_flags/{key:str}/schedules", status_code=201)
async def create_schedule(request: Req, key: str) -> ScheduleOut:
    """Schedule a change to a flag at ``run_at``.

    Secret key (401); 400 when it would make the flag invalid now, 404 unknown key.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, ScheduleIn, limit=MAX_ADMIN_BODY, error=InvalidFlag)
    return await service.create_schedule(ctx, project_id, key, body, _actor(request))


@delete("/api/feature_flags/{key:str}/schedules/{schedule_id:int}", status_code=200)
async def cancel_schedule(request: Req, key: str, schedule_id: int) -> ScheduleOut:
    """Cancel a pending scheduled change.

    Secret key (401); 404 not this flag's schedule, 409 already applied, failed or cancelled.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    return await service.cancel_schedule(ctx, project_id, key, schedule_id)


# --- admin: cohorts and group types ---------------------------------------------------------


@get("/api/cohorts")
async def list_cohorts(request: Req) -> CohortList:
    """The project's cohorts. Secret key (401)."""
    ctx = ctx_of(request)
    return await cohorts.list_cohorts(ctx, await require_secret_key(request, ctx))


@post("/api/cohorts", status_code=201)
async def create_cohort(request: Req) -> CohortOut:
    """Create a dynamic (filters) or static (distinct ids) cohort.

    Secret key (401); 400 invalid cohort, 413 over 16 MiB.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, CohortIn, limit=MAX_COHORT_BODY, error=InvalidRequest)
    return await cohorts.create_cohort(ctx, project_id, body)


@get("/api/cohorts/{cohort_id:int}")
async def get_cohort(request: Req, cohort_id: int) -> CohortOut:
    """One cohort. Secret key (401); 404 when the project has no such cohort."""
    ctx = ctx_of(request)
    return await cohorts.get_cohort(ctx, await require_secret_key(request, ctx), cohort_id)


@patch("/api/cohorts/{cohort_id:int}")
async def update_cohort(request: Req, cohort_id: int) -> CohortOut:
    """Change a cohort's name, description, filters or static members.

    Secret key (401); 400 invalid (incl. static <-> dynamic), 404 unknown, 413 over 16 MiB.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, CohortPatch, limit=MAX_COHORT_BODY, error=InvalidRequest)
    return await cohorts.update_cohort(ctx, project_id, cohort_id, body)


@delete("/api/cohorts/{cohort_id:int}", status_code=204)
async def delete_cohort(request: Req, cohort_id: int) -> None:
    """Delete a cohort. Secret key (401); 404 unknown, 409 while an active flag targets it."""
    ctx = ctx_of(request)
    await cohorts.delete_cohort(ctx, await require_secret_key(request, ctx), cohort_id)


@get("/api/group_types")
async def list_group_types(request: Req) -> GroupTypeList:
    """The project's group types by index. Secret key (401)."""
    ctx = ctx_of(request)
    return await cohorts.list_group_types(ctx, await require_secret_key(request, ctx))


@put("/api/group_types/{index:int}")
async def set_group_type(request: Req, index: int) -> GroupTypeOut:
    """Name the group type at an index (0-4).

    Secret key (401); 400 index out of range, 409 the name already has another index.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, GroupTypeIn, limit=MAX_ADMIN_BODY, error=InvalidRequest)
    return await cohorts.set_group_type(ctx, project_id, index, body)


# --- evaluation (public token) --------------------------------------------------------------


async def _evaluate(request: Req) -> dict[str, Evaluation]:
    q = request.query_params
    req = evaluation.parse_request(
        await request.body(),
        content_encoding=request.headers.get("content-encoding", ""),
        content_type=request.headers.get("content-type", ""),
        compression=q.get("compression"),
        query_token=q.get("token") or q.get("api_key"),
    )
    ctx = ctx_of(request)
    state = ctx.state_of(FlagsState)
    _, results = await evaluation.evaluate(ctx, state.hub, state.subjects, state.read_pool, req)
    return results


@post(["/flags", "/flags/"], status_code=200)
async def flags(request: Req) -> Response[bytes]:
    """Evaluate flags for a subject (``/flags``; ``v=1`` answers in ``/decide``'s shape).

    Project token; 400 unsupported version or invalid body, 401 missing or unknown token.
    """
    v = request.query_params.get("v", "2")
    if v not in ("1", "2", "3", "4"):
        raise InvalidRequest("unsupported version", [FieldError("v", "must be 2, 3 or 4")])
    results = await _evaluate(request)
    if v == "1":
        body = _encoder.encode(evaluation.decide_response(results))
    else:
        body = _encoder.encode(evaluation.flags_response(results))
    return Response(body, media_type=JSON)


@post(["/decide", "/decide/"], status_code=200)
async def decide(request: Req) -> Response[bytes]:
    """Evaluate flags for a subject in the legacy ``/decide`` shape.

    Project token; 400 invalid body, 401 missing or unknown token.
    """
    results = await _evaluate(request)
    return Response(_encoder.encode(evaluation.decide_response(results)), media_type=JSON)


# --- local evaluation (secret key) ----------------------------------------------------------


async def _definitions_project(request: Req) -> int:
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    token = request.query_params.get("token")
    if token is not None and await ctx.projects.by_token(token) != project_id:
        raise InvalidToken(
            "the token is not the secret key's project",
            [FieldError("token", "does not match the secret key")],
        )
    return project_id


@get(
    [
        "/flags/definitions",
        "/flags/definitions/",
        "/api/feature_flag/local_evaluation",
        "/api/feature_flag/local_evaluation/",
    ]
)
async def definitions(request: Req) -> Response[bytes]:
    """Flag definitions for SDK local evaluation (PostHog's shape); 304 on a matching ETag.

    Secret key (401, also when ``token`` names another project).
    """
    project_id = await _definitions_project(request)
    snapshot = await hub_of(request).snapshot(project_id)
    headers = {"ETag": snapshot.etag, "Cache-Control": "no-cache"}
    if snapshot.etag in _etags(request.headers.get("if-none-match", "")):
        return Response(b"", status_code=304, headers=headers)
    return Response(snapshot.body, media_type=JSON, headers=headers)


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


@get("/api/feature_flags/stream")
async def stream(request: Req) -> ServerSentEvent:
    """Server-Sent Events: a ``definitions`` event now and after every change."""
    project_id = await _definitions_project(request)
    hub = hub_of(request)
    seen = request.headers.get("last-event-id")
    keepalive_s = ctx_of(request).settings_of(FlagsConfig).stream_keepalive_s
    return ServerSentEvent(
        _events(hub, project_id, seen, keepalive_s),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    hub: Hub, project_id: int, seen: str | None, keepalive_s: float
) -> AsyncIterator[Any]:
    with hub.listen(project_id) as queue:
        current: Snapshot = await hub.snapshot(project_id)
        if current.etag.strip('"') != seen:
            yield _message(current)
        while True:
            try:
                latest = await asyncio.wait_for(queue.get(), keepalive_s)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keepalive")
                continue
            while latest is not CLOSED and not queue.empty():
                latest = queue.get_nowait()  # only the newest matters
            if latest is CLOSED:
                return
            if latest.etag != current.etag:
                current = latest
                yield _message(current)


def _message(snapshot: Snapshot) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        event="definitions", id=snapshot.etag.strip('"'), data=snapshot.body.decode()
    )


router = Router(
    path="/",
    route_handlers=[
        list_flags,
        create_flag,
        stream,
        get_flag,
        update_flag,
        archive_flag,
        restore_flag,
        flag_history,
        list_schedules,
        create_schedule,
        cancel_schedule,
        list_cohorts,
        create_cohort,
        get_cohort,
        update_cohort,
        delete_cohort,
        list_group_types,
        set_group_type,
        flags,
        decide,
        definitions,
    ],
)
