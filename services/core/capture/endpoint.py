"""What every capture endpoint does around the protocol: read the HTTP request, authenticate the
project, answer. A service's handler adds only where the events go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from litestar import Response

from schemas.api import CaptureAccepted, FieldError
from services.core.capture.encoding import decode_body
from services.core.capture.errors import (
    BodyTooLarge,
    CaptureTooLarge,
    InvalidBody,
    InvalidCapture,
    InvalidToken,
)
from services.core.capture.parse import ParsedRequest, parse
from services.core.http import partial_capture_response

if TYPE_CHECKING:
    from litestar import Request

    from services.core.service import Context

_ACCEPTED = CaptureAccepted()


@dataclass(frozen=True)
class CaptureRequest:
    """The parts of an HTTP capture request the protocol reads."""

    body: bytes
    content_encoding: str = ""
    content_type: str = ""
    compression: str | None = None
    # ``?_=``: the client's send time in epoch milliseconds, for clock-skew correction.
    sent_at_ms: str | None = None
    query_token: str | None = None
    # The client's address for ``$ip``; None when the client asked not to record it (ip=0).
    client_ip: str | None = None


@dataclass(frozen=True)
class Accepted:
    """A parsed request whose token names a project."""

    project_id: int
    now: datetime
    parsed: ParsedRequest


async def capture_request(request: Request[Any, Any, Any]) -> CaptureRequest:
    """The :class:`CaptureRequest` of a Litestar request."""
    q = request.query_params
    return CaptureRequest(
        body=await request.body(),
        content_encoding=request.headers.get("content-encoding", ""),
        content_type=request.headers.get("content-type", ""),
        compression=q.get("compression"),
        sent_at_ms=q.get("_"),
        query_token=q.get("token") or q.get("api_key"),
        client_ip=None if q.get("ip") == "0" else _client_ip(request),
    )


def _client_ip(request: Request[Any, Any, Any]) -> str | None:
    # Behind the reverse proxy (compose), the client is the first X-Forwarded-For entry.
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    return forwarded or (request.client.host if request.client else None)


def capture_response(
    request: Request[Any, Any, Any], accepted: int, errors: list[FieldError]
) -> Response[Any]:
    """200 ``{"status": 1}``; 204 for ``?beacon=1``; the partial-capture 400 when events were
    refused (the others were accepted all the same)."""
    if errors:
        return partial_capture_response(accepted, errors)
    if request.query_params.get("beacon") == "1":
        return Response(b"", status_code=204)
    return Response(_ACCEPTED, status_code=200)


def decode_request(
    body: bytes, content_encoding: str, content_type: str, compression: str | None
) -> bytes:
    """:func:`.encoding.decode_body` with the capture endpoints' error titles."""
    try:
        return decode_body(body, content_encoding, content_type, compression)
    except BodyTooLarge as exc:
        raise CaptureTooLarge(exc.detail, exc.errors) from None
    except InvalidBody as exc:
        raise InvalidCapture(exc.detail, exc.errors) from None


def read(req: CaptureRequest, *, now: datetime, snapshots_only: bool = False) -> ParsedRequest:
    """A capture request's body, decoded and parsed."""
    payload = decode_request(req.body, req.content_encoding, req.content_type, req.compression)
    return parse(payload, now=now, query_sent_at_ms=req.sent_at_ms, snapshots_only=snapshots_only)


async def accept(ctx: Context, req: CaptureRequest, *, snapshots_only: bool = False) -> Accepted:
    """Decode, parse and authenticate: the project the request's token names, or a 4xx."""
    now = datetime.now(UTC)
    parsed = read(req, now=now, snapshots_only=snapshots_only)
    token = parsed.token or req.query_token
    if not token:
        raise InvalidToken(
            "no project token in the request",
            [FieldError("api_key", "missing: send api_key, token or $token")],
        )
    project_id = await ctx.projects.by_token(token)
    if project_id is None:
        raise InvalidToken("the project token is not valid", [FieldError("api_key", "unknown")])
    return Accepted(project_id=project_id, now=now, parsed=parsed)
