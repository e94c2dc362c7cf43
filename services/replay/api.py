"""HTTP API of the replay service: the recording endpoint, the recordings API, the SDK file."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, delete, get, post, put
from litestar.params import Parameter
from litestar.response import Stream

from schemas.replay import (
    ReplayList,
    ReplayOut,
    ReplaySettings,
    SessionEvents,
)
from services.core import capture as protocol
from services.core.bodies import read_json
from services.core.http import ctx_of
from services.replay import metrics, pages, playback, remote_config, service
from services.replay.assets import CACHE_CONTROL, AssetCache
from services.replay.auth import project_of
from services.replay.errors import InvalidSettings

Req = Request[Any, Any, Any]
MAX_SETTINGS_BODY = 4096
_assets = AssetCache()


@post(["/s", "/s/"], status_code=200, summary="Capture recordings (PostHog protocol)")
async def capture(request: Req) -> Response[Any]:
    """Accept ``$snapshot`` events from PostHog SDKs (any of their body encodings), with the
    project token.

    Answers once the broker stored every accepted snapshot: 200 (204 with ``?beacon=1``), the
    partial-capture 400 naming refused events (any but ``$snapshot``), 400 unreadable body,
    401 missing or unknown token, 413 too large, 503 broker unavailable.
    """
    req = await protocol.capture_request(request)
    result = await service.capture(ctx_of(request), req)
    metrics.SNAPSHOTS_ACCEPTED.inc(result.accepted)
    for err in result.errors:
        metrics.SNAPSHOTS_REJECTED.labels(err.field).inc()
    return protocol.capture_response(request, result.accepted, result.errors)


@get("/api/replays")
async def list_replays(
    request: Req,
    distinct_id: str | None = None,
    person_id: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    min_duration_ms: int | None = None,
    url_contains: str | None = None,
    has_console_errors: bool | None = None,
    limit: int = Parameter(default=50),
    cursor: str | None = None,
) -> ReplayList:
    """The project's recordings, newest first, filtered, a page at a time (``next`` is the
    cursor of the following page).

    Secret key or replay session cookie (401); 400 limit outside 1 to 200, negative duration,
    person_id not a UUID, a date not ISO 8601 or a bad cursor.
    """
    ctx = ctx_of(request)
    query = service.ListQuery(
        distinct_id=distinct_id,
        person_id=person_id,
        date_from=date_from,
        date_to=date_to,
        min_duration_ms=min_duration_ms,
        url_contains=url_contains,
        has_console_errors=has_console_errors,
        limit=limit,
        cursor=cursor,
    )
    return await service.list_replays(ctx, await project_of(request, ctx), query)


@get("/api/replays/settings")
async def get_settings(request: Req) -> ReplaySettings:
    """The project's retention in days (the configured default when unset).

    Secret key or replay session cookie (401).
    """
    ctx = ctx_of(request)
    return await service.get_settings(ctx, await project_of(request, ctx))


@put("/api/replays/settings")
async def put_settings(request: Req) -> ReplaySettings:
    """Set the project's retention, 1 to 3650 days.

    Secret key or replay session cookie (401); 400 out of range or unreadable body, 413 over 4 KiB.
    """
    ctx = ctx_of(request)
    project_id = await project_of(request, ctx)
    body = await read_json(request, ReplaySettings, limit=MAX_SETTINGS_BODY, error=InvalidSettings)
    return await service.put_settings(ctx, project_id, body)


@get("/api/replays/{session_id:str}")
async def get_replay(request: Req, session_id: str) -> ReplayOut:
    """One recording's metadata.

    Secret key or replay session cookie (401); 400 invalid session id, 404 unknown.
    """
    ctx = ctx_of(request)
    return await service.get_replay(ctx, await project_of(request, ctx), session_id)


@delete("/api/replays/{session_id:str}", status_code=204)
async def delete_replay(request: Req, session_id: str) -> None:
    """Delete a recording and all stored for it (chunks, quarantine, metadata); 204.

    Secret key or replay session cookie (401); 400 invalid session id, 404 unknown.
    """
    ctx = ctx_of(request)
    await service.delete_replay(ctx, await project_of(request, ctx), session_id)


@get("/api/replays/{session_id:str}/snapshots")
async def snapshots(request: Req, session_id: str, window_id: str | None = None) -> Stream:
    """The session's rrweb events, ``{"events": [...]}`` in timestamp order, written chunk by
    chunk (404 before anything is written when the session does not exist)."""
    ctx = ctx_of(request)
    project_id = await project_of(request, ctx)
    body = await playback.stream(ctx, project_id, session_id, window_id)
    return Stream(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@get("/api/replays/{session_id:str}/events")
async def session_events(
    request: Req, session_id: str, limit: int = Parameter(default=1000)
) -> SessionEvents:
    """The session's analytics events (by ``$session_id``, within a day of the recording), in
    time order; ``truncated`` when there are more than ``limit``.

    Secret key or replay session cookie (401); 400 limit outside 1 to 5000 or invalid session
    id, 404 unknown.
    """
    ctx = ctx_of(request)
    return await service.session_events(ctx, await project_of(request, ctx), session_id, limit)


@get("/static/devflow.js")
async def sdk_bundle(request: Req) -> Response[bytes]:
    """The browser SDK bundle; public, cached a week, 304 for a matching ``If-None-Match``;
    404 when it is not built."""
    config = service.config_of(ctx_of(request))
    asset = _assets.get(
        config.path(config.sdk_js), "run `npm ci && npm run build` in sdk/js (see README)"
    )
    headers = {"ETag": asset.etag, "Cache-Control": CACHE_CONTROL}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type="application/javascript", headers=headers)


router = Router(
    path="/",
    route_handlers=[
        capture,
        list_replays,
        get_settings,
        put_settings,
        get_replay,
        delete_replay,
        snapshots,
        session_events,
        sdk_bundle,
        remote_config.config_json,
        remote_config.config_script,
        pages.router,
    ],
)
