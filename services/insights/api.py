"""HTTP API of the insights service: the query endpoint (also at PostHog's path) and settings."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get, post, put

from schemas.insights import InsightsSettings, QueryRequest, QueryResponse
from services.core.auth import require_secret_key
from services.core.bodies import read_json
from services.core.http import ctx_of
from services.insights import service
from services.insights.errors import InvalidQuery, InvalidSettings

Req = Request[Any, Any, Any]
MAX_QUERY_BODY = 256 * 1024
MAX_SETTINGS_BODY = 4096


@post(["/api/query", "/api/query/"], status_code=200)
async def query(request: Req) -> QueryResponse:
    """Answer ``{"query": {"kind": "TrendsQuery" | "FunnelsQuery", ...}}`` (PostHog's schema).

    Secret key (401); 400 naming the field of a bad or unsupported query, 413 over 256 KiB.
    """
    return await _answer(request)


@post(["/api/projects/{project:str}/query", "/api/projects/{project:str}/query/"], status_code=200)
async def project_query(request: Req, project: str) -> QueryResponse:
    """PostHog's path of ``POST /api/query``; the secret key decides the project (the path's
    id, or PostHog's ``@current``, is not checked against it)."""
    return await _answer(request)


async def _answer(request: Req) -> QueryResponse:
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, QueryRequest, limit=MAX_QUERY_BODY, error=InvalidQuery)
    return await service.query(ctx, project_id, body.query)


@get("/api/insights/settings")
async def get_settings(request: Req) -> InsightsSettings:
    """The project's time zone and first day of the week. Secret key (401)."""
    ctx = ctx_of(request)
    return await service.get_settings(ctx, await require_secret_key(request, ctx))


@put("/api/insights/settings")
async def put_settings(request: Req) -> InsightsSettings:
    """Set the project's time zone (IANA name) and first day of the week (0 Sunday, 1 Monday).

    Secret key (401); 400 unknown zone, bad day or unreadable body, 413 over 4 KiB.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(
        request, InsightsSettings, limit=MAX_SETTINGS_BODY, error=InvalidSettings
    )
    return await service.put_settings(ctx, project_id, body)


router = Router(path="/", route_handlers=[query, project_query, get_settings, put_settings])
