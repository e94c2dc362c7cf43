"""HTTP API of the billing service: Stripe webhooks and the project's billing settings."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Router, get, post, put

from schemas.api import FieldError
from schemas.billing import (
    BillingSettingsIn,
    BillingSettingsOut,
    WebhookAck,
)
from services.billing import service, webhooks
from services.billing.errors import InvalidSettings
from services.core.auth import require_secret_key
from services.core.errors import PayloadTooLarge
from services.core.http import ctx_of

if TYPE_CHECKING:
    from services.core.service import Context

Req = Request[Any, Any, Any]
MAX_SETTINGS_BODY = 8192
_settings_in = msgspec.json.Decoder(BillingSettingsIn)
_NAMED = re.compile(r"field `([^`]+)`")
_AT = re.compile(r" - at `\$\.([^`]+)`")


@post("/webhooks/stripe/{project_token:str}", status_code=200)
async def stripe_webhook(request: Req, project_token: str) -> WebhookAck:
    """A Stripe event for the project whose public token is in the path."""
    body = await request.body()
    if len(body) > webhooks.MAX_BODY_BYTES:
        raise PayloadTooLarge(
            "the event is larger than accepted",
            [FieldError("body", f"larger than {webhooks.MAX_BODY_BYTES} bytes")],
        )
    signature = request.headers.get(webhooks.SIGNATURE.lower())
    return await webhooks.receive(ctx_of(request), project_token, body, signature)


@get("/api/billing/settings")
async def get_settings(request: Req) -> BillingSettingsOut:
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    return await service.get_settings(ctx, project_id, await _token(ctx, project_id))


@put("/api/billing/settings")
async def put_settings(request: Req) -> BillingSettingsOut:
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await request.body()
    if len(body) > MAX_SETTINGS_BODY:
        raise PayloadTooLarge(
            f"the body exceeds {MAX_SETTINGS_BODY} bytes",
            [FieldError("body", f"larger than {MAX_SETTINGS_BODY} bytes")],
        )
    try:
        settings = _settings_in.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidSettings("the body is not valid", [_field_error(exc)]) from None
    except msgspec.DecodeError as exc:
        raise InvalidSettings("the body is not JSON", [FieldError("body", str(exc))]) from None
    return await service.put_settings(ctx, project_id, await _token(ctx, project_id), settings)


def _field_error(exc: msgspec.ValidationError) -> FieldError:
    # "Object contains unknown field `x`" / "Expected `str`, got `int` - at `$.x`"
    text = str(exc)
    match = _NAMED.search(text) or _AT.search(text)
    return FieldError(match.group(1) if match else "body", text)


async def _token(ctx: Context, project_id: int) -> str:
    token = await ctx.projects.token_of(project_id)
    assert token is not None  # the secret key just resolved to this project
    return token


router = Router(path="/", route_handlers=[stripe_webhook, get_settings, put_settings])
