"""A realistic, tangled history of Stripe events for the projection tests: several customers,
plan changes, failed and paid invoices, entitlements, a checkout, a renamed price, a
cancellation, and two events for one object within the same second."""

from __future__ import annotations

from typing import Any

from tests.billing.factories import customer, entitlement_summary, event, price, subscription


def history() -> list[dict[str, Any]]:
    free = price("price_free", "free", 0, product="prod_app")
    pro = price("price_pro", "pro", 2900, product="prod_app")
    team = price("price_team", "team", 9900, interval="year", product="prod_team")
    team_renamed = {**team, "lookup_key": "business"}
    product = {"id": "prod_app", "object": "product", "name": "App", "active": True}
    a, b, c = customer("cus_A", "alice"), customer("cus_B", "bob"), customer("cus_C")
    checkout = {
        "id": "cs_1",
        "object": "checkout.session",
        "customer": "cus_C",
        "client_reference_id": "carol",
        "mode": "subscription",
        "status": "complete",
    }
    invoice_paid = {
        "id": "in_A1",
        "object": "invoice",
        "customer": "cus_A",
        "status": "paid",
        "amount_due": 2900,
        "amount_paid": 2900,
        "currency": "usd",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_A"},
        },
    }
    invoice_failed = {
        **invoice_paid,
        "id": "in_B1",
        "customer": "cus_B",
        "status": "open",
        "amount_paid": 0,
        "parent": None,
        "subscription": "sub_B",
    }
    return [
        event("product.created", product, 80, "evt_01"),
        event("product.updated", {**product, "name": "The App"}, 85, "evt_02"),
        event("price.created", free, 90, "evt_03"),
        event("price.created", pro, 90, "evt_04"),
        event("price.created", team, 90, "evt_05"),
        event("customer.created", a, 100, "evt_06"),
        event("customer.created", b, 100, "evt_07"),
        event("customer.created", c, 100, "evt_08"),
        event("checkout.session.completed", checkout, 101, "evt_09"),
        event(
            "customer.subscription.created",
            subscription("sub_C", "cus_C", [team], "trialing"),
            102,
            "evt_10",
        ),
        event(
            "customer.subscription.created",
            subscription("sub_B", "cus_B", [pro], quantity=3),
            105,
            "evt_11",
        ),
        event(
            "customer.subscription.created", subscription("sub_A", "cus_A", [free]), 110, "evt_12"
        ),
        # Two changes of sub_A in one second: the event id decides, whatever the arrival order.
        event(
            "customer.subscription.updated",
            subscription("sub_A", "cus_A", [free], "past_due"),
            120,
            "evt_13a",
        ),
        event(
            "customer.subscription.updated", subscription("sub_A", "cus_A", [pro]), 120, "evt_13b"
        ),
        event("invoice.paid", invoice_paid, 121, "evt_14"),
        event(
            "entitlements.active_entitlement_summary.updated",
            entitlement_summary("cus_A", ["sso", "audit_log"]),
            122,
            "evt_15",
        ),
        event("customer.updated", {**a, "email": "alice@new.example"}, 130, "evt_16"),
        event("invoice.payment_failed", invoice_failed, 139, "evt_17"),
        event(
            "customer.subscription.updated",
            subscription("sub_B", "cus_B", [pro], "past_due", 3),
            140,
            "evt_18",
        ),
        event(
            "customer.subscription.deleted",
            subscription("sub_B", "cus_B", [pro], "canceled", 3),
            150,
            "evt_19",
        ),
        event("price.updated", team_renamed, 160, "evt_20"),
        event("customer.discount.created", {"id": "di_1", "object": "discount"}, 161, "evt_21"),
    ]
