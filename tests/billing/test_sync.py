"""POST /api/billing/sync: the projection seeded from Stripe's lists, idempotently."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg

from services.billing.rebuild import rebuild
from tests.billing.factories import admin, customer, devflow, price, subscription
from tests.billing.stripe_fake import StripeFake
from tests.billing.test_flags import flags_of
from tests.flags.factories import create, property_flag
from tests.support import Stack, wait_for


def run_sync(http: httpx.Client, project: Any) -> list[dict[str, Any]]:
    r = http.post("/api/billing/sync", headers=admin(project))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


def seed(fake: StripeFake) -> None:
    fake.add({"id": "prod_app", "object": "product", "name": "App", "active": True, "created": 1})
    pro = fake.add(price("price_pro", "pro", 2900, product="prod_app"))
    fake.add(customer("cus_sync_1", "synced-alice"))
    fake.add(customer("cus_sync_2", "synced-bob"))
    for i in range(120):  # two pages of customers
        fake.add({**customer(f"cus_bulk_{i:03d}"), "created": 1_600_000_000 + i})
    fake.add(subscription("sub_sync_1", "cus_sync_1", [pro]))
    fake.add(subscription("sub_sync_2", "cus_sync_2", [pro], status="canceled"))
    fake.entitlements["cus_sync_1"] = [
        {
            "object": "entitlements.active_entitlement",
            "id": "ent_1",
            "feature": "feat_sso",
            "lookup_key": "sso",
            "livemode": False,
        }
    ]


def test_sync_seeds_the_projection_and_flags(
    stack: Stack, http: httpx.Client, bhttp: httpx.Client, billing_project: Any, fake: StripeFake
) -> None:
    seed(fake)
    create(http, billing_project, property_flag("pro-only", "$plan", "pro"))
    create(http, billing_project, property_flag("sso", "$entitlements", "sso"))
    fake.fail_next(1, status=429)  # backed off and retried
    progress = run_sync(bhttp, billing_project)
    assert progress[-1] == {
        "done": True,
        "products": 1,
        "prices": 1,
        "customers": 122,
        "subscriptions": 2,
        "entitlements": 122,
    }
    assert [p["synced"] for p in progress if p.get("kind") == "customers"] == [100, 122]
    wait_for(
        lambda: flags_of(http, billing_project, "synced-alice") == {"pro-only": True, "sso": True}
    )
    assert flags_of(http, billing_project, "synced-bob") == {"pro-only": False, "sso": False}

    again = run_sync(bhttp, billing_project)
    assert [p["new"] for p in again if "new" in p] == [0] * (len(again) - 1)

    async def check() -> list[str]:
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            return (await rebuild(conn, billing_project.id, apply=False)).differences

    wait_for(lambda: asyncio.run(check()) == [])


def test_sync_needs_a_stripe_key(stack: Stack, bhttp: httpx.Client) -> None:
    project = stack.project()
    r = bhttp.post("/api/billing/sync", headers=admin(project))
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "stripe_secret_key"


def test_the_cli_prints_progress(
    stack: Stack, billing_server: Any, billing_project: Any, fake: StripeFake
) -> None:
    seed(fake)
    command = ("billing", "sync", "--url", billing_server.url, "--project", str(billing_project.id))
    done = devflow(stack, *command)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["products", "1", "(1", "new)"]
    assert lines[-1] == (
        "synced 1 products, 1 prices, 122 customers, 2 subscriptions, 122 entitlements"
        " into project 'test'"
    )
    fake.fail_next(10, status=500)  # more than the library's retries
    failed = devflow(stack, *command)
    assert failed.returncode == 2
    assert "sync stopped: APIError" in failed.stderr
