"""HTTP API of the ingest service: PostHog-compatible capture and the event/person reads."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from litestar import Request, Response, Router, get, post
from litestar.params import Parameter
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from schemas.api import EventsPage, FieldError, PersonOut
from services.core import capture as protocol
from services.core.auth import require_secret_key
from services.core.http import ctx_of
from services.ingest import service
from services.ingest.errors import InvalidQuery

PERSONS_PREFIX = "/api/persons/"
CAPTURE_PATHS = ["/capture", "/batch", "/e", "/i/v0/e", "/track"]
tracer = trace.get_tracer("devflow.ingest")


@post(
    [*CAPTURE_PATHS, *(p + "/" for p in CAPTURE_PATHS)],
    status_code=200,
    summary="Capture events (PostHog protocol)",
)
async def capture(request: Request[Any, Any, Any]) -> Response[Any]:
    """Accept events from PostHog SDKs (any of their body encodings), with the project token.

    Answers once the broker stored every accepted event: 200 (204 with ``?beacon=1``), the
    partial-capture 400 naming refused events, 400 unreadable body, 401 missing or unknown token,
    413 too large, 503 broker unavailable.
    """
    # The span joins a trace the client started (traceparent) and travels on to the writer
    # through the NATS message headers.
    parent = propagate.extract(request.headers)
    with tracer.start_as_current_span("capture", context=parent, kind=SpanKind.SERVER):
        return await _capture(request)


async def _capture(request: Request[Any, Any, Any]) -> Response[Any]:
    req = await protocol.capture_request(request)
    result = await service.capture(ctx_of(request), req)
    return protocol.capture_response(request, result.accepted, result.errors)


@get("/api/events")
async def list_events(
    request: Request[Any, Any, Any],
    event: str | None = None,
    distinct_id: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = Parameter(default=100),
    cursor: str | None = None,
) -> EventsPage:
    """The project's events, newest first, filtered and paged with ``next_cursor``.

    Secret key (401); 400 for a bad ``limit`` (1-1000), date-time or cursor.
    """
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    return await service.list_events(
        ctx,
        project_id,
        event=event,
        distinct_id=distinct_id,
        after=after,
        before=before,
        limit=limit,
        cursor=cursor,
    )


@get("/api/persons/{distinct_id:path}")
async def get_person(request: Request[Any, Any, Any], distinct_id: str) -> PersonOut:
    """The person a distinct id belongs to, with all their distinct ids.

    Secret key (401); 404 when no person has the id.
    """
    # Distinct ids are often URLs and may contain "/" (sent as %2F); the router's decoded path
    # collapses "//", so the id is taken from the raw path instead.
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    raw = request.scope.get("raw_path", b"").decode("latin-1")
    _, found, tail = raw.partition(PERSONS_PREFIX)
    try:
        exact = unquote(tail, errors="strict") if found else distinct_id.removeprefix("/")
    except UnicodeDecodeError:
        raise InvalidQuery(
            "the distinct id is not valid UTF-8", [FieldError("distinct_id", "not UTF-8")]
        ) from None
    return await service.get_person(ctx, project_id, exact)


router = Router(path="/", route_handlers=[capture, list_events, get_person])
