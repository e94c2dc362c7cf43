"""The Stripe fake answers the official library as Stripe does: pagination, filters, errors,
retries with idempotency keys, meter event identifiers, and the webhook signature scheme."""

from __future__ import annotations

import json

import pytest
import stripe

from tests.billing.factories import WEBHOOK_SECRET, customer, event, price, sign, subscription
from tests.billing.stripe_fake import StripeFake


def client(fake: StripeFake, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        fake.api_key, base_addresses={"api": fake.url}, max_network_retries=retries
    )


def test_lists_paginate_with_starting_after() -> None:
    with StripeFake() as fake:
        for i in range(25):
            fake.add({**customer(f"cus_{i:02d}"), "created": 1_700_000_000 + i})
        seen = [c.id for c in client(fake).v1.customers.list({"limit": 10}).auto_paging_iter()]
    assert seen == [f"cus_{i:02d}" for i in reversed(range(25))]
    pages = [r.query.get("starting_after") for r in fake.requests]
    assert pages == [None, "cus_15", "cus_05"]


def test_subscriptions_leave_out_canceled_unless_asked() -> None:
    with StripeFake() as fake:
        pro = price("price_pro", "pro", 2900)
        fake.add(subscription("sub_1", "cus_1", [pro]))
        fake.add(subscription("sub_2", "cus_1", [pro], status="canceled"))
        api = client(fake).v1.subscriptions
        live = [s.id for s in api.list().auto_paging_iter()]
        every = [s.id for s in api.list({"status": "all"}).auto_paging_iter()]
    assert live == ["sub_1"]
    assert sorted(every) == ["sub_1", "sub_2"]


def test_active_entitlements_need_a_customer() -> None:
    with StripeFake() as fake:
        fake.entitlements["cus_1"] = [
            {
                "object": "entitlements.active_entitlement",
                "id": "ent_1",
                "feature": "feat_1",
                "lookup_key": "sso",
                "livemode": False,
            }
        ]
        api = client(fake).v1.entitlements.active_entitlements
        keys = [e.lookup_key for e in api.list({"customer": "cus_1"}).auto_paging_iter()]
        with pytest.raises(stripe.InvalidRequestError):
            api.list({})  # type: ignore[typeddict-item]
    assert keys == ["sso"]


def test_a_bad_key_is_an_authentication_error() -> None:
    with StripeFake() as fake:
        bad = stripe.StripeClient("sk_test_wrong", base_addresses={"api": fake.url})
        with pytest.raises(stripe.AuthenticationError):
            bad.v1.customers.list()


def test_meter_events_retried_after_a_5xx_keep_one_idempotency_key() -> None:
    with StripeFake() as fake:
        fake.fail_next(1, status=500)
        params = {
            "event_name": "api_calls",
            "identifier": "p1:m1:cus_1:2026-12-04T10",
            "payload": {"stripe_customer_id": "cus_1", "value": "42"},
            "timestamp": 1_764_842_400,
        }
        created = client(fake, retries=2).v1.billing.meter_events.create(params)
        assert created.identifier == params["identifier"]
        posts = [r for r in fake.requests if r.method == "POST"]
        assert [r.status for r in posts] == [500, 200]
        assert len({r.headers["idempotency-key"] for r in posts}) == 1
        assert len(fake.meter_events) == 1
        assert fake.meter_events[0]["payload"] == {"stripe_customer_id": "cus_1", "value": "42"}
        with pytest.raises(stripe.InvalidRequestError) as again:
            client(fake).v1.billing.meter_events.create(params)
        assert again.value.code == "resource_already_exists"
        assert len(fake.meter_events) == 1


def test_429_is_a_rate_limit_error_the_caller_retries() -> None:
    # The library retries 409 and 5xx itself, not 429: backing off is the caller's job.
    with StripeFake() as fake:
        fake.fail_next(1, status=429)
        with pytest.raises(stripe.RateLimitError):
            client(fake, retries=2).v1.products.list()
        assert client(fake).v1.products.list().data == []


def test_the_test_signer_follows_the_library() -> None:
    body = json.dumps(event("customer.created", customer("cus_1"), 1)).encode()
    verified = stripe.Webhook.construct_event(body, sign(body), WEBHOOK_SECRET, tolerance=300)
    assert verified.type == "customer.created"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, sign(body, "whsec_other"), WEBHOOK_SECRET)
