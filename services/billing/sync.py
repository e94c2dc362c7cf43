"""Backfill (``POST /api/billing/sync``, ``devflow billing sync``): list customers, products,
prices, subscriptions and active entitlements from Stripe and seed the projection with them.

Each listed object becomes a snapshot event in ``stripe_events`` (type ``<object type>.synced``,
``created`` one second before the sync started, id derived from the object's content), announced
and applied like a webhook's. So the log stays the projection's only source (a rebuild keeps
what a sync brought), a sync repeated over unchanged objects adds nothing, and any webhook event
for a change made during or after the sync wins over the snapshot.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from schemas.billing import StripeEventStored
from services.billing import stripe_api, webhooks
from services.billing.repo import log as log_repo
from services.billing.state import config_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from services.core.service import Context

PAGE = 100
# (what the progress calls it, the type of its snapshot events)
KINDS = (
    ("products", "product.synced"),
    ("prices", "price.synced"),
    ("customers", "customer.synced"),
    ("subscriptions", "customer.subscription.synced"),
)


async def sync(ctx: Context, project_id: int, secret_key: str) -> AsyncIterator[dict[str, Any]]:
    """Yield progress (``{"kind", "synced", "new"}`` per page, then ``{"done": true, ...}``)."""
    client = stripe_api.client(secret_key, config_of(ctx).stripe_api_base)
    created = int(time.time()) - 1
    totals: dict[str, int] = {}
    customers: list[str] = []
    for kind, type_ in KINDS:
        service = getattr(client.v1, kind)
        params = {"status": "all"} if kind == "subscriptions" else {}
        async for page in _pages(service.list, params):
            new = await _store(ctx, project_id, type_, created, page)
            totals[kind] = totals.get(kind, 0) + len(page)
            if kind == "customers":
                customers.extend(str(o["id"]) for o in page)
            yield {"kind": kind, "synced": totals[kind], "new": new}
    summaries = []
    for customer in customers:
        entitled = [
            e
            async for page in _pages(
                client.v1.entitlements.active_entitlements.list, {"customer": customer}
            )
            for e in page
        ]
        summaries.append(
            {
                "object": "entitlements.active_entitlement_summary",
                "customer": customer,
                "entitlements": {"object": "list", "data": entitled, "has_more": False},
            }
        )
        if len(summaries) == PAGE or customer == customers[-1]:
            new = await _store(
                ctx,
                project_id,
                "entitlements.active_entitlement_summary.synced",
                created,
                summaries,
            )
            totals["entitlements"] = totals.get("entitlements", 0) + len(summaries)
            yield {"kind": "entitlements", "synced": totals["entitlements"], "new": new}
            summaries = []
    yield {"done": True, **totals}


async def _pages(
    list_fn: Callable[..., Any], params: dict[str, Any]
) -> AsyncIterator[list[dict[str, Any]]]:
    after: str | None = None
    while True:
        query = {**params, "limit": PAGE, **({"starting_after": after} if after else {})}
        page = await asyncio.to_thread(stripe_api.call, lambda q=query: list_fn(q))
        items = [o.to_dict() for o in page.data]
        if items:
            yield items
        if not page.has_more or not items:
            return
        after = str(items[-1]["id"])


async def _store(
    ctx: Context, project_id: int, type_: str, created: int, objects: list[dict[str, Any]]
) -> int:
    """Log and announce one snapshot event per object; return how many were new."""
    events: list[StripeEventStored] = []
    bodies: list[str] = []
    for obj in objects:
        body = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        event_id = "sync_" + hashlib.sha256(f"{type_}:{body}".encode()).hexdigest()[:32]
        livemode = bool(obj.get("livemode", False))
        envelope = {
            "id": event_id,
            "object": "event",
            "type": type_,
            "created": created,
            "livemode": livemode,
            "data": {"object": obj},
        }
        events.append(StripeEventStored(project_id, event_id, type_, created, livemode))
        bodies.append(json.dumps(envelope))
    new = 0
    async with ctx.pool.connection() as conn, conn.transaction():
        for stored, text in zip(events, bodies, strict=True):
            new += await log_repo.insert_event(
                conn, project_id, stored.event_id, type_, created, stored.livemode, text
            )
    for stored in events:
        await webhooks.announce(ctx, stored)
    return new
