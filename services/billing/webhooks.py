"""``POST /webhooks/stripe/{project_token}``: verify, log once, announce, acknowledge.

The signature is checked by the ``stripe`` library against the project's webhook secret (300 s
tolerance) before anything is stored. A verified event is appended to ``stripe_events`` and
announced on ``billing.<project>.stripe.<type>`` (``Nats-Msg-Id`` = the event id), and only then
acknowledged: a failure on the way answers 5xx, so Stripe delivers it again. A redelivery finds
the event logged, announces it again (de-duplicated by NATS, or absorbed by the projection) and
is acknowledged: this also finishes a delivery whose announcement was lost to a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import stripe

from schemas.api import FieldError
from schemas.billing import STRIPE_SUBJECT, StripeEvent, StripeEventStored, WebhookAck
from services.billing import metrics
from services.billing.errors import InvalidEvent, InvalidSignature, NoEncryptionKey, UnknownProject
from services.billing.repo import log as log_repo
from services.billing.repo import settings as settings_repo
from services.billing.state import state_of
from services.core.bodies import decode_json

if TYPE_CHECKING:
    from services.core.service import Context

TOLERANCE_S = 300
MAX_BODY_BYTES = 4 * 1024 * 1024
SIGNATURE = "Stripe-Signature"
_encoder = msgspec.json.Encoder()


async def receive(ctx: Context, token: str, body: bytes, signature: str | None) -> WebhookAck:
    project_id = await ctx.projects.by_token(token)
    if project_id is None:
        raise UnknownProject("no project has this token", [FieldError("project_token", "unknown")])
    secret = await webhook_secret(ctx, project_id)
    event = _verified(body, signature, secret)
    async with ctx.pool.connection() as conn, conn.transaction():
        fresh = await log_repo.insert_event(
            conn, project_id, event.id, event.type, event.created, event.livemode, body.decode()
        )
    await announce(
        ctx, StripeEventStored(project_id, event.id, event.type, event.created, event.livemode)
    )
    metrics.WEBHOOKS.labels("stored" if fresh else "duplicate").inc()
    return WebhookAck(received=True, event_id=event.id, duplicate=not fresh)


async def announce(ctx: Context, stored: StripeEventStored) -> None:
    """Tell the projector (and any other reader of billing's log) that an event is logged."""
    await ctx.bus.publish(
        STRIPE_SUBJECT.format(project_id=stored.project_id, type=stored.type),
        _encoder.encode(stored),
        msg_id=f"stripe:{stored.project_id}:{stored.event_id}",
        timeout_s=ctx.settings.publish_timeout_s,
    )


async def webhook_secret(ctx: Context, project_id: int) -> str:
    async with ctx.pool.connection() as conn:
        row = await settings_repo.select_settings(conn, project_id)
    if row is None or row.webhook_secret is None:
        metrics.WEBHOOKS.labels("rejected").inc()
        raise InvalidSignature(
            "the project has no Stripe webhook secret: PUT /api/billing/settings",
            [FieldError("webhook_secret", "not configured")],
        )
    box = state_of(ctx).box
    secret = box.open(row.webhook_secret, f"{project_id}:webhook_secret") if box else None
    if secret is None:
        raise NoEncryptionKey(
            "the webhook secret cannot be decrypted: DEVFLOW_BILLING_ENCRYPTION_KEY is unset "
            "or not the key it was stored with",
            headers={"Retry-After": "60"},
        )
    return secret


def _verified(body: bytes, signature: str | None, secret: str) -> StripeEvent:
    if not signature:
        metrics.WEBHOOKS.labels("rejected").inc()
        raise InvalidSignature(
            f"the {SIGNATURE} header is missing", [FieldError(SIGNATURE, "missing")]
        )
    try:
        stripe.WebhookSignature.verify_header(body, signature, secret, TOLERANCE_S)
    except stripe.SignatureVerificationError as exc:
        metrics.WEBHOOKS.labels("rejected").inc()
        raise InvalidSignature(
            "the Stripe-Signature header does not verify", [FieldError(SIGNATURE, str(exc))]
        ) from None
    except UnicodeDecodeError:
        metrics.WEBHOOKS.labels("rejected").inc()
        raise InvalidEvent("the body is not UTF-8", [FieldError("body", "not UTF-8")]) from None
    try:
        return decode_json(body, StripeEvent, limit=MAX_BODY_BYTES, error=InvalidEvent)
    except InvalidEvent:
        metrics.WEBHOOKS.labels("rejected").inc()
        raise
