"""The projection applied from the log: exactly once, in any order, equal to its rebuild."""

from __future__ import annotations

import json
import random
from typing import Any

import psycopg
import pytest

from services.billing import projection, properties
from services.billing.rebuild import rebuild
from services.billing.repo import log as log_repo
from services.billing.repo import projection as repo
from tests.billing.history import history
from tests.support import Stack

Orders = list[tuple[str, list[dict[str, Any]]]]


def orders() -> Orders:
    events = history()
    out: Orders = [("in order", events), ("reversed", events[::-1])]
    for seed in (1, 2, 3):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        out.append((f"shuffled {seed}", shuffled))
        doubled = events + events[: len(events) // 2]
        random.Random(seed).shuffle(doubled)
        out.append((f"duplicated {seed}", doubled))
    return out


async def load(
    conn: psycopg.AsyncConnection[Any], project_id: int, events: list[dict[str, Any]]
) -> None:
    """Log and apply one event per transaction, in the given order (as the projector would)."""
    for evt in events:
        async with conn.transaction():
            await log_repo.insert_event(
                conn, project_id, evt["id"], evt["type"], evt["created"], False, json.dumps(evt)
            )
            logged = await log_repo.select_events(conn, [(project_id, evt["id"])])
            await projection.apply(conn, logged)


def without_project(snapshot: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {
        t: [{k: v for k, v in r.items() if k != "project_id"} for r in rows]
        for t, rows in snapshot.items()
    }


async def test_every_order_yields_the_same_projection_and_its_rebuild(stack: Stack) -> None:
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        snapshots = {}
        for name, events in orders():
            project_id = stack.project(name).id
            await load(conn, project_id, events)
            snapshots[name] = without_project(await repo.snapshot(conn, project_id))
            report = await rebuild(conn, project_id, apply=False)
            assert report.differences == [], name
        expected = snapshots["in order"]
        for name, snap in snapshots.items():
            assert snap == expected, name


async def test_the_projection_holds_the_newest_state(stack: Stack) -> None:
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        project_id = stack.project().id
        await load(conn, project_id, history()[::-1])
        snap = await repo.snapshot(conn, project_id)
    subs = {s["id"]: s for s in snap["billing_subscriptions"]}
    assert subs["sub_A"]["status"] == "active"  # evt_13b > evt_13a within the same second
    assert subs["sub_A"]["price_ids"] == ["price_pro"]
    assert subs["sub_A"]["current_period_end"] == 1_702_592_000  # from the item (basil)
    assert subs["sub_B"]["status"] == "canceled"
    customers = {c["id"]: c for c in snap["billing_customers"]}
    assert customers["cus_A"]["email"] == "alice@new.example"
    prices = {p["id"]: p for p in snap["billing_prices"]}
    assert prices["price_team"]["lookup_key"] == "business"
    assert [p["name"] for p in snap["billing_products"]] == ["The App"]
    invoices = {i["id"]: i for i in snap["billing_invoices"]}
    assert invoices["in_A1"]["paid"]
    assert invoices["in_A1"]["subscription_id"] == "sub_A"
    assert invoices["in_B1"]["payment_failed"]
    assert invoices["in_B1"]["subscription_id"] == "sub_B"
    assert snap["billing_entitlements"][0]["lookup_keys"] == ["audit_log", "sso"]
    assert snap["billing_checkout_links"][0]["client_reference_id"] == "carol"


async def test_a_late_event_is_logged_but_changes_nothing(stack: Stack) -> None:
    events = history()
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        project_id = stack.project().id
        await load(conn, project_id, events)
        before = await repo.snapshot(conn, project_id)
        late = dict(events[11], id="evt_late")  # sub_A back on free, created long ago
        async with conn.transaction():
            await log_repo.insert_event(
                conn, project_id, late["id"], late["type"], late["created"], False, json.dumps(late)
            )
            result = await projection.apply(
                conn, await log_repo.select_events(conn, [(project_id, "evt_late")])
            )
        assert (result.applied, result.stale) == (0, 1)
        assert await repo.snapshot(conn, project_id) == before
        assert (await rebuild(conn, project_id, apply=False)).differences == []


@pytest.mark.parametrize(
    ("customer_id", "expected"),
    [
        (
            "cus_A",
            {
                "distinct_id": "alice",
                "plan": "pro",
                "status": "active",
                "mrr": 29.0,
                "entitlements": ["audit_log", "sso"],
            },
        ),
        (
            "cus_B",
            {
                "distinct_id": "bob",
                "plan": None,
                "status": "canceled",
                "mrr": 0.0,
                "entitlements": [],
            },
        ),
    ],
)
async def test_plan_state_of_linked_customers(
    stack: Stack, customer_id: str, expected: dict[str, Any]
) -> None:
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        project_id = stack.project().id
        await load(conn, project_id, history())
        state = await properties.state_of(conn, project_id, customer_id)
    assert state is not None
    got = {k: getattr(state, k) for k in expected}
    assert got == expected
    assert state.customer_id == customer_id
    assert state.changed_at.timestamp() >= 121


async def test_checkout_reference_links_a_customer_when_enabled(stack: Stack) -> None:
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        project_id = stack.project().id
        await load(conn, project_id, history())
        assert await properties.state_of(conn, project_id, "cus_C") is None  # no metadata link
        await conn.execute(
            "INSERT INTO billing_settings (project_id, use_client_reference_id) VALUES (%s, true)",
            (project_id,),
        )
        state = await properties.state_of(conn, project_id, "cus_C")
    assert state is not None
    # Trialing on the yearly team price, renamed "business" later: the current key wins; no MRR
    # while trialing.
    assert (state.distinct_id, state.plan, state.status, state.mrr) == (
        "carol",
        "business",
        "trialing",
        0.0,
    )
