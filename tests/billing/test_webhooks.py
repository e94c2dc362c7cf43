"""POST /webhooks/stripe/{token}: verified with the project's secret, logged once, acked."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from tests.billing.factories import customer, deliver, event, uid
from tests.support import Stack

PROBLEM = "application/problem+json"


def logged(stack: Stack, project_id: int) -> list[tuple[str, str]]:
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            "SELECT event_id, type FROM stripe_events WHERE project_id = %s ORDER BY seq",
            (project_id,),
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    return body


def test_a_verified_event_is_logged_once_and_a_replay_is_a_noop(
    stack: Stack, bhttp: httpx.Client, billing_project: Any
) -> None:
    evt = event("customer.created", customer(uid("cus"), "user-1"), int(time.time()))
    first = deliver(bhttp, billing_project.token, evt)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "event_id": evt["id"], "duplicate": False}
    again = deliver(bhttp, billing_project.token, evt)
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert logged(stack, billing_project.id) == [(evt["id"], "customer.created")]


def test_unknown_event_types_are_kept_and_acknowledged(
    stack: Stack, bhttp: httpx.Client, billing_project: Any
) -> None:
    evt = event(
        "radar.early_fraud_warning.created",
        {"id": "issfr_1", "object": "radar.early_fraud_warning"},
        1,
    )
    r = deliver(bhttp, billing_project.token, evt)
    assert r.status_code == 200, r.text
    assert logged(stack, billing_project.id) == [(evt["id"], "radar.early_fraud_warning.created")]


def test_a_bad_signature_is_refused_and_nothing_is_stored(
    stack: Stack, bhttp: httpx.Client, billing_project: Any
) -> None:
    evt = event("customer.created", customer(uid("cus")), int(time.time()))
    wrong = deliver(bhttp, billing_project.token, evt, secret="whsec_someone_else")
    body = problem(wrong, 400)
    assert body["errors"][0]["field"] == "Stripe-Signature"
    assert "expected signature" in body["errors"][0]["reason"]
    garbled = deliver(bhttp, billing_project.token, evt, signature="nonsense")
    assert "timestamp" in problem(garbled, 400)["errors"][0]["reason"]
    missing = bhttp.post(
        f"/webhooks/stripe/{billing_project.token}",
        content=b"{}",
        headers={"Content-Type": "application/json"},
    )
    assert problem(missing, 400)["errors"] == [{"field": "Stripe-Signature", "reason": "missing"}]
    assert logged(stack, billing_project.id) == []


def test_a_stale_timestamp_is_refused(
    stack: Stack, bhttp: httpx.Client, billing_project: Any
) -> None:
    evt = event("customer.created", customer(uid("cus")), int(time.time()))
    stale = deliver(bhttp, billing_project.token, evt, timestamp=int(time.time()) - 301)
    assert "tolerance" in problem(stale, 400)["errors"][0]["reason"]
    fresh_enough = deliver(bhttp, billing_project.token, evt, timestamp=int(time.time()) - 240)
    assert fresh_enough.status_code == 200, fresh_enough.text
    assert logged(stack, billing_project.id) == [(evt["id"], "customer.created")]


def test_an_unknown_token_is_404_and_nothing_is_stored(
    stack: Stack, bhttp: httpx.Client, billing_project: Any
) -> None:
    evt = event("customer.created", customer(uid("cus")), int(time.time()))
    r = deliver(bhttp, "phc_not_a_project", evt)
    assert problem(r, 404)["errors"][0]["field"] == "project_token"
    assert logged(stack, billing_project.id) == []


def test_a_project_without_a_webhook_secret_stores_nothing(
    stack: Stack, bhttp: httpx.Client
) -> None:
    project = stack.project()
    evt = event("customer.created", customer(uid("cus")), int(time.time()))
    r = deliver(bhttp, project.token, evt)
    assert problem(r, 400)["errors"][0]["field"] == "webhook_secret"
    assert logged(stack, project.id) == []


def test_a_signed_body_that_is_not_an_event_is_refused(
    stack: Stack, bhttp: httpx.Client, billing_project: Any
) -> None:
    from tests.billing.factories import sign

    body = b'{"id": 1}'
    r = bhttp.post(
        f"/webhooks/stripe/{billing_project.token}",
        content=body,
        headers={"Stripe-Signature": sign(body)},
    )
    # The field at fault, named by the kernel's body decoder.
    assert problem(r, 400)["errors"][0]["field"] == "id"
    assert logged(stack, billing_project.id) == []
