"""HTTP API of the ingest service: PostHog-compatible capture and the event/person reads."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.params import Parameter
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from schemas.api import CaptureAccepted, EventsPage, PersonOut, Problem
from services.core.auth import require_secret_key
from services.core.http import ctx_of, problem_response
from services.ingest import service

CAPTURE_PATHS = ["/capture", "/batch", "/e", "/i/v0/e", "/track"]
_ACCEPTED = CaptureAccepted()
tracer = trace.get_tracer("devflow.ingest")


@post(
    [*CAPTURE_PATHS, *(p + "/" for p in CAPTURE_PATHS)],
    status_code=200,
    summary="Capture events (PostHog protocol)",
)
async def capture(request: Request[Any, Any, Any]) -> Response[Any]:
    # The span joins a trace the client started (traceparent) and travels on to the writer
    # through the NATS message headers.
    parent = propagate.extract(request.headers)
    with tracer.start_as_current_span("capture", context=parent, kind=SpanKind.SERVER):
        return await _capture(request)


async def _capture(request: Request[Any, Any, Any]) -> Response[Any]:
    q = request.query_params
    result = await service.capture(
        ctx_of(request),
        service.CaptureRequest(
            body=await request.body(),
            content_encoding=request.headers.get("content-encoding", ""),
            content_type=request.headers.get("content-type", ""),
            compression=q.get("compression"),
            sent_at_ms=q.get("_"),
            query_token=q.get("token") or q.get("api_key"),
        ),
    )
    if result.errors:
        return problem_response(
            Problem(
                title="Some events were rejected",
                status=400,
                detail=f"{result.accepted} event(s) accepted, {len(result.errors)} rejected",
                errors=result.errors,
                accepted=result.accepted,
                rejected=sorted({e.index for e in result.errors if e.index is not None}),
            )
        )
    if q.get("beacon") == "1":
        return Response(b"", status_code=204)
    return Response(_ACCEPTED, status_code=200)


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


@get("/api/persons/{distinct_id:str}")
async def get_person(request: Request[Any, Any, Any], distinct_id: str) -> PersonOut:
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    return await service.get_person(ctx, project_id, distinct_id)


router = Router(path="/", route_handlers=[capture, list_events, get_person])
