"""GET /api/billing/customers (plan and status filters, pages), /customers/{id}, /events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.billing.factories import admin, deliver
from tests.billing.history import history
from tests.support import wait_for


def get(http: httpx.Client, project: Any, path: str, **params: Any) -> dict[str, Any]:
    r = http.get(path, params=params, headers=admin(project))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


# The customers once the whole history is applied (cus_C: its price's lookup key was renamed
# "business"; a trial carries its plan).
FINAL = [("cus_A", "pro", "active"), ("cus_B", None, "canceled"), ("cus_C", "business", "trialing")]


def summary(bhttp: httpx.Client, project: Any, **params: Any) -> list[tuple[str, Any, str]]:
    found = get(bhttp, project, "/api/billing/customers", **params)["results"]
    return [(c["id"], c["plan"], c["status"]) for c in found]


def loaded(bhttp: httpx.Client, project: Any) -> None:
    """Deliver the history and wait until every event of it is applied."""
    for evt in history():
        assert deliver(bhttp, project.token, evt).status_code == 200
    wait_for(lambda: summary(bhttp, project) == FINAL)
    wait_for(
        lambda: get(bhttp, project, "/api/billing/customers/cus_A")["customer"]["entitlements"]
    )


def test_customers_by_plan_and_status(bhttp: httpx.Client, billing_project: Any) -> None:
    project = billing_project
    loaded(bhttp, project)
    assert summary(bhttp, project) == FINAL
    assert [
        c["id"] for c in get(bhttp, project, "/api/billing/customers", plan="pro")["results"]
    ] == ["cus_A"]
    assert [
        c["id"] for c in get(bhttp, project, "/api/billing/customers", status="canceled")["results"]
    ] == ["cus_B"]
    first = get(bhttp, project, "/api/billing/customers", limit=2)
    assert [c["id"] for c in first["results"]] == ["cus_A", "cus_B"]
    rest = get(bhttp, project, "/api/billing/customers", limit=2, cursor=first["next_cursor"])
    assert [c["id"] for c in rest["results"]] == ["cus_C"]
    assert rest["next_cursor"] is None
    bad = bhttp.get("/api/billing/customers", params={"limit": 0}, headers=admin(project))
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "limit"


def test_one_customer_in_full(
    http: httpx.Client, bhttp: httpx.Client, billing_project: Any
) -> None:
    project = billing_project
    loaded(bhttp, project)
    # alice captures an event: the person exists in the persons projection.
    batch = [{"uuid": str(uuid.uuid4()), "event": "seen", "distinct_id": "alice"}]
    assert http.post("/batch", json={"api_key": project.token, "batch": batch}).status_code == 200
    detail = wait_for(
        lambda: (d := get(bhttp, project, "/api/billing/customers/cus_A"))["person_id"] and d
    )
    assert detail["customer"]["mrr"] == 29.0
    assert detail["customer"]["entitlements"] == ["audit_log", "sso"]
    assert detail["metadata"] == {"distinct_id": "alice"}
    assert [s["id"] for s in detail["subscriptions"]] == ["sub_A"]
    assert detail["invoices"][0]["paid"] is True
    assert detail["usage"] == []
    missing = bhttp.get("/api/billing/customers/cus_nobody", headers=admin(project))
    assert missing.status_code == 404


def test_the_event_log_newest_first_with_type_filter(
    bhttp: httpx.Client, billing_project: Any
) -> None:
    project = billing_project
    loaded(bhttp, project)
    events = get(bhttp, project, "/api/billing/events", limit=200)["results"]
    assert len(events) == len(history())
    assert [e["seq"] for e in events] == sorted((e["seq"] for e in events), reverse=True)
    invoices = get(bhttp, project, "/api/billing/events", type="invoice.")["results"]
    assert sorted(e["type"] for e in invoices) == ["invoice.paid", "invoice.payment_failed"]
    exact = get(bhttp, project, "/api/billing/events", type="invoice.paid")["results"]
    assert [e["event_id"] for e in exact] == ["evt_14"]
    page = get(bhttp, project, "/api/billing/events", limit=5)
    more = get(bhttp, project, "/api/billing/events", limit=5, cursor=page["next_cursor"])
    assert [e["seq"] for e in page["results"] + more["results"]] == [e["seq"] for e in events[:10]]
