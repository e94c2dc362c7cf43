"""Plans reach /flags: a signed webhook moving a customer from free to pro turns on a flag
targeted at ``$plan = pro`` for the customer's distinct id; a replayed or late event changes
nothing."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.billing.factories import (
    customer,
    deliver,
    entitlement_summary,
    event,
    price,
    subscription,
    uid,
)
from tests.flags.factories import create, evaluate, property_flag
from tests.support import wait_for


def flags_of(http: httpx.Client, project: Any, distinct_id: str) -> dict[str, Any]:
    return {k: v["enabled"] for k, v in evaluate(http, project, distinct_id)["flags"].items()}


def test_a_plan_change_flips_a_flag_and_late_events_change_nothing(
    http: httpx.Client, bhttp: httpx.Client, billing_project: Any
) -> None:
    """Webhooks go to the billing server, flags are made and evaluated on the shared one."""
    project, token = billing_project, billing_project.token
    create(http, project, property_flag("pro-only", "$plan", "pro"))
    create(http, project, property_flag("past-due", "$plan_status", "past_due"))
    create(http, project, property_flag("big-spender", "$mrr", 50, operator="gt"))
    distinct_id, cid, sid = uid("user"), uid("cus"), uid("sub")
    free, pro = price("price_free", "free", 0), price("price_pro", "pro", 2900)
    t0 = int(time.time()) - 1000
    for evt in (
        event("customer.created", customer(cid, distinct_id), t0),
        event("customer.subscription.created", subscription(sid, cid, [free]), t0 + 1),
    ):
        assert deliver(bhttp, token, evt).status_code == 200
    wait_for(
        lambda: (
            flags_of(http, project, distinct_id)
            == {"pro-only": False, "past-due": False, "big-spender": False}
        )
    )

    upgrade = event("customer.subscription.updated", subscription(sid, cid, [pro]), t0 + 10)
    assert deliver(bhttp, token, upgrade).status_code == 200
    wait_for(lambda: flags_of(http, project, distinct_id)["pro-only"])

    # The upgrade again (a redelivery) and an older state delivered late, then a newer change
    # that shows once everything before it was applied.
    assert deliver(bhttp, token, upgrade).json()["duplicate"] is True
    late = event(
        "customer.subscription.updated", subscription(sid, cid, [free], "past_due"), t0 + 5
    )
    assert deliver(bhttp, token, late).status_code == 200
    seats = event(
        "customer.subscription.updated", subscription(sid, cid, [pro], quantity=2), t0 + 20
    )
    assert deliver(bhttp, token, seats).status_code == 200
    wait_for(lambda: flags_of(http, project, distinct_id)["big-spender"])
    assert flags_of(http, project, distinct_id) == {
        "pro-only": True,
        "past-due": False,
        "big-spender": True,
    }
    # Someone else is untouched.
    assert flags_of(http, project, uid("user"))["pro-only"] is False


def test_entitlements_are_a_list_property(
    http: httpx.Client, bhttp: httpx.Client, billing_project: Any
) -> None:
    project, token = billing_project, billing_project.token
    create(http, project, property_flag("sso", "$entitlements", "sso"))
    create(http, project, property_flag("no-sso", "$entitlements", "sso", operator="is_not"))
    distinct_id, cid = uid("user"), uid("cus")
    t0 = int(time.time()) - 100
    assert (
        deliver(bhttp, token, event("customer.created", customer(cid, distinct_id), t0)).status_code
        == 200
    )
    summary = entitlement_summary(cid, ["audit_log", "sso"])
    evt = event("entitlements.active_entitlement_summary.updated", summary, t0 + 1)
    assert deliver(bhttp, token, evt).status_code == 200
    wait_for(lambda: flags_of(http, project, distinct_id) == {"sso": True, "no-sso": False})
    fewer = event(
        "entitlements.active_entitlement_summary.updated",
        entitlement_summary(cid, ["audit_log"]),
        t0 + 2,
    )
    assert deliver(bhttp, token, fewer).status_code == 200
    wait_for(lambda: flags_of(http, project, distinct_id) == {"sso": False, "no-sso": True})
