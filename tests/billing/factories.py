"""Stripe objects and signed webhook deliveries for the billing tests (shapes from Stripe's
OpenAPI fixtures; signatures by the documented ``t=<unix>,v1=<HMAC-SHA256>`` scheme)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import subprocess
import time
from typing import Any

import httpx

from tests.support import DEVFLOW, ROOT

WEBHOOK_SECRET = "whsec_test_billing_0123456789abcdef"
_ids = itertools.count(1)


def uid(prefix: str) -> str:
    return f"{prefix}_{time.time_ns():x}{next(_ids)}"


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(
    type_: str, obj: dict[str, Any], created: int, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or uid("evt"),
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def customer(cid: str, distinct_id: str | None = None, **metadata: str) -> dict[str, Any]:
    meta = dict(metadata)
    if distinct_id is not None:
        meta["distinct_id"] = distinct_id
    return {
        "id": cid,
        "object": "customer",
        "created": 1_700_000_000,
        "email": f"{cid}@example.com",
        "name": None,
        "metadata": meta,
        "livemode": False,
    }


def price(
    pid: str,
    lookup_key: str | None,
    amount: int,
    interval: str = "month",
    product: str = "prod_default",
    currency: str = "usd",
) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "price",
        "active": True,
        "created": 1_700_000_000,
        "currency": currency,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": {},
        "product": product,
        "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
        "type": "recurring",
        "unit_amount": amount,
    }


def subscription(
    sid: str, cid: str, prices: list[dict[str, Any]], status: str = "active", quantity: int = 1
) -> dict[str, Any]:
    return {
        "id": sid,
        "object": "subscription",
        "customer": cid,
        "status": status,
        "created": 1_700_000_000,
        "cancel_at_period_end": False,
        "trial_start": None,
        "trial_end": None,
        "currency": prices[0]["currency"] if prices else "usd",
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sid}_{i}",
                    "object": "subscription_item",
                    "price": p,
                    "quantity": quantity,
                    "current_period_start": 1_700_000_000,
                    "current_period_end": 1_702_592_000,
                }
                for i, p in enumerate(prices)
            ],
            "has_more": False,
        },
        "livemode": False,
        "metadata": {},
    }


def entitlement_summary(cid: str, keys: list[str]) -> dict[str, Any]:
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": cid,
        "entitlements": {
            "object": "list",
            "data": [
                {
                    "object": "entitlements.active_entitlement",
                    "id": f"ent_{k}",
                    "feature": f"feat_{k}",
                    "lookup_key": k,
                    "livemode": False,
                }
                for k in keys
            ],
            "has_more": False,
        },
        "livemode": False,
    }


def deliver(
    http: httpx.Client,
    token: str,
    evt: dict[str, Any],
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST the event as Stripe would: its JSON body signed with the endpoint's secret."""
    body = json.dumps(evt).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers["Stripe-Signature"] = (
        signature if signature is not None else sign(body, secret, timestamp)
    )
    return http.post(f"/webhooks/stripe/{token}", content=body, headers=headers)


def admin(project: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {project.secret_key}"}


def devflow(stack: Any, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a ``devflow`` command against the stack's database and NATS; its output as text."""
    return subprocess.run(
        [*DEVFLOW, *args],
        env=stack.env(**env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
