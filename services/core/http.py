"""HTTP plumbing shared by every service: problem+json errors, health, readiness, metrics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import MediaType, Request, Response, Router, get
from litestar.exceptions import HTTPException, ValidationException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.api import CheckResult, FieldError, Problem, ReadyOut
from services.core import metrics
from services.core.errors import DomainError
from services.core.repo.platform import ping

if TYPE_CHECKING:
    from services.core.service import Context

log = logging.getLogger("devflow.http")
PROBLEM_JSON = "application/problem+json"
_encoder = msgspec.json.Encoder()


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    """An ``application/problem+json`` response carrying ``problem``."""
    return Response(
        _encoder.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers or {},
    )


def partial_capture_response(accepted: int, errors: list[FieldError]) -> Response[bytes]:
    """The 400 of a capture request some of whose events were refused: the others are stored,
    ``rejected`` lists the indexes of those that were not."""
    return problem_response(
        Problem(
            title="Some events were rejected",
            status=400,
            detail=f"{accepted} event(s) accepted, {len(errors)} rejected",
            errors=errors,
            accepted=accepted,
            rejected=sorted({e.index for e in errors if e.index is not None}),
        )
    )


def domain_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Turn a :class:`DomainError` into its problem+json response."""
    assert isinstance(exc, DomainError)
    problem = Problem(
        title=exc.title, status=exc.status, detail=exc.detail, errors=exc.errors or None
    )
    return problem_response(problem, exc.headers)


def http_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Turn Litestar's own HTTP errors into problem+json, naming invalid fields."""
    assert isinstance(exc, HTTPException)
    errors = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = [
            FieldError(
                field=str(e.get("key") or e.get("source") or "body"), reason=str(e["message"])
            )
            for e in exc.extra
            if isinstance(e, dict) and "message" in e
        ] or None
    if exc.status_code == 413 and errors is None:
        errors = [FieldError(field="body", reason="larger than the server accepts")]
    problem = Problem(
        title=_title(exc.status_code), status=exc.status_code, detail=exc.detail, errors=errors
    )
    return problem_response(problem, dict(exc.headers or {}))


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Log an unexpected exception; answer a bare 500 (no details leak)."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(Problem(title="Internal server error", status=500))


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def ctx_of(request: Request[Any, Any, Any]) -> Context:
    """The running services' :class:`Context`, from the app state."""
    ctx: Context = request.app.state.ctx
    return ctx


@get("/_health", media_type=MediaType.JSON, sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/_ready", media_type=MediaType.JSON)
async def ready(request: Request[Any, Any, Any]) -> Response[ReadyOut]:
    """Readiness: PostgreSQL answers a query, NATS is connected; reports the storage mode."""
    ctx = ctx_of(request)
    try:
        async with ctx.pool.connection(timeout=2) as conn:
            await ping(conn)
        pg = CheckResult(ok=True)
    except Exception as exc:
        pg = CheckResult(ok=False, detail=type(exc).__name__)
    nats_ok = await ctx.bus.ping()
    bus = CheckResult(ok=nats_ok, detail=None if nats_ok else "no answer from NATS")
    body = ReadyOut(ready=pg.ok and bus.ok, postgres=pg, nats=bus, storage_mode=ctx.storage_mode)
    return Response(body, status_code=200 if body.ready else 503)


# Litestar appends "; charset=utf-8" itself; CONTENT_TYPE_LATEST already carries one.
_METRICS_TYPE = "; ".join(p for p in CONTENT_TYPE_LATEST.split("; ") if not p.startswith("charset"))


@get("/metrics", sync_to_thread=False)
def prometheus_metrics() -> Response[bytes]:
    """The process's Prometheus metrics, in the text exposition format."""
    return Response(generate_latest(metrics.REGISTRY), media_type=_METRICS_TYPE)


core_router = Router(path="/", route_handlers=[health, ready, prometheus_metrics])
