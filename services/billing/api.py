"""HTTP API of the billing service: Stripe webhooks, the project's billing settings, backfill
and meters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import stripe
from litestar import Request, Router, get, post, put
from litestar.params import Parameter
from litestar.response import Stream

from schemas.api import FieldError
from schemas.billing import (
    BillingSettingsIn,
    BillingSettingsOut,
    CustomerDetail,
    CustomerList,
    MeterIn,
    MeterList,
    MeterOut,
    StripeEventList,
    UsageReported,
    WebhookAck,
)
from services.billing import customers, meters, service, sync, webhooks
from services.billing.errors import InvalidSettings
from services.core.auth import require_secret_key
from services.core.bodies import read_json
from services.core.errors import PayloadTooLarge
from services.core.http import ctx_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from services.core.service import Context

Req = Request[Any, Any, Any]
MAX_SETTINGS_BODY = 8192
_lines = msgspec.json.Encoder()


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
    settings = await read_json(
        request, BillingSettingsIn, limit=MAX_SETTINGS_BODY, error=InvalidSettings
    )
    return await service.put_settings(ctx, project_id, await _token(ctx, project_id), settings)


@post("/api/billing/sync", status_code=200)
async def sync_from_stripe(request: Req) -> Stream:
    """Backfill from Stripe; the answer streams progress as JSON lines, the last ``done``."""
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    key = await service.stripe_secret_key(ctx, project_id)
    if key is None:
        raise InvalidSettings(
            "the project has no Stripe secret key: PUT /api/billing/settings",
            [FieldError("stripe_secret_key", "not configured")],
        )

    async def lines() -> AsyncIterator[bytes]:
        try:
            async for progress in sync.sync(ctx, project_id, key):
                yield _lines.encode(progress) + b"\n"
        except stripe.StripeError as exc:
            # Headers are sent: the failure is the last line (a rerun resumes idempotently).
            yield _lines.encode({"error": f"{type(exc).__name__}: {exc.user_message or exc}"})
            yield b"\n"

    return Stream(lines(), media_type="application/x-ndjson")


@post("/api/billing/meters", status_code=201)
async def create_meter(request: Req) -> MeterOut:
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    body = await read_json(request, MeterIn, limit=MAX_SETTINGS_BODY, error=InvalidSettings)
    return await meters.create_meter(ctx, project_id, body)


@get("/api/billing/meters")
async def list_meters(request: Req) -> MeterList:
    ctx = ctx_of(request)
    return await meters.list_meters(ctx, await require_secret_key(request, ctx))


@post("/api/billing/meters/report", status_code=200)
async def report_usage(request: Req) -> UsageReported:
    """Report every closed window of the project's meters now (the periodic job's work)."""
    ctx = ctx_of(request)
    return await meters.report_now(ctx, await require_secret_key(request, ctx))


@get("/api/billing/customers")
async def list_customers(
    request: Req,
    plan: str | None = None,
    status: str | None = None,
    limit: int = Parameter(default=50),
    cursor: str | None = None,
) -> CustomerList:
    """Customers whose current plan and subscription status match (secret key)."""
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    return await customers.list_customers(ctx, project_id, plan, status, limit, cursor)


@get("/api/billing/customers/{customer_id:str}")
async def get_customer(request: Req, customer_id: str) -> CustomerDetail:
    """One customer: projection, linked person, subscriptions, invoices, usage (secret key)."""
    ctx = ctx_of(request)
    return await customers.get_customer(ctx, await require_secret_key(request, ctx), customer_id)


@get("/api/billing/events")
async def list_events(
    request: Req,
    limit: int = Parameter(default=50),
    cursor: str | None = None,
) -> StripeEventList:
    """The Stripe event log, newest first, ``?type=`` exact or a prefix ending in "." (secret
    key)."""
    ctx = ctx_of(request)
    project_id = await require_secret_key(request, ctx)
    event_type = request.query_params.get("type")
    return await customers.list_events(ctx, project_id, event_type, limit, cursor)


async def _token(ctx: Context, project_id: int) -> str:
    token = await ctx.projects.token_of(project_id)
    assert token is not None  # the secret key just resolved to this project
    return token


router = Router(
    path="/",
    route_handlers=[
        stripe_webhook,
        get_settings,
        put_settings,
        sync_from_stripe,
        create_meter,
        list_meters,
        report_usage,
        list_customers,
        get_customer,
        list_events,
    ],
)
