"""Incremental refresh of the per-person rows: after every round of new events (new people, late
conversions, a second variant, a back-dated pre-period event, a merge of two persons) the results
of an experiment refreshed incrementally are those of a twin experiment built from scratch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.experiments.factories import event, exposure
from tests.flags.factories import admin, create, multivariate_flag
from tests.support import Server, Stack, all_events, wait_for

FLAG = "inc-flag"
METRICS = [
    {
        "name": "bought",
        "kind": "conversion",
        "event": "purchase",
        "window_hours": 2,
        "role": "primary",
    },
    {
        "name": "pro revenue",
        "kind": "mean",
        "event": "purchase",
        "property": "amount",
        "filters": [{"key": "plan", "value": "pro", "operator": "exact"}],
    },
    {"name": "views", "kind": "count", "event": "$pageview", "role": "guardrail"},
    {
        "name": "per order",
        "kind": "ratio",
        "numerator": {"name": "amount", "kind": "sum", "event": "purchase", "property": "amount"},
        "denominator": {"name": "orders", "kind": "count", "event": "purchase"},
    },
    {"name": "checkout", "kind": "funnel", "steps": ["$pageview", "purchase"]},
]
ANALYSIS = {
    "engine": "frequentist",
    "cuped": True,
    "pre_period_days": 1,
    "min_sample": 1,
    "min_conversions": 1,
}


def _launch(http: httpx.Client, project: Any, start: datetime) -> int:
    body = {
        "name": "Incremental",
        "feature_flag_key": FLAG,
        "metrics": METRICS,
        "analysis": ANALYSIS,
        "start_at": start.isoformat(),
    }
    made = wait_for(
        lambda: (
            (r := http.post("/api/experiments", json=body, headers=admin(project))).status_code
            == 201
            and r
        )
    )
    exp_id = int(made.json()["id"])
    launched = http.post(f"/api/experiments/{exp_id}/launch", headers=admin(project))
    assert launched.status_code == 200, launched.text
    return exp_id


def _results(http: httpx.Client, project: Any, exp_id: int) -> dict[str, Any]:
    r = http.get(
        f"/api/experiments/{exp_id}/results", params={"refresh": "true"}, headers=admin(project)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _figures(body: dict[str, Any]) -> dict[tuple[str, str], list[Any]]:
    return {
        (m["name"], v["key"]): [
            v["exposures"],
            v["value"],
            v["effect"],
            v["p_value"],
            v["interval"],
            v["status"],
        ]
        for m in body["metrics"]
        for v in m["variants"]
    }


def _state(stack: Stack, exp_id: int) -> tuple[datetime, datetime, int]:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT built_at, refreshed_at, people, (SELECT count(*) FROM experiment_people"
            " WHERE experiment_id = %s) FROM experiment_people_state WHERE experiment_id = %s",
            (exp_id, exp_id),
        ).fetchone()
    assert row is not None
    assert row[2] == row[3], "the state's count of people is the number of rows"
    return row[0], row[1], row[3]


def _send(http: httpx.Client, server: Server, project: Any, batch: list[dict[str, Any]]) -> None:
    before = len(all_events(server.url, project.secret_key))
    r = http.post("/batch/", json={"api_key": project.token, "batch": batch})
    assert r.status_code == 200, r.text
    wait_for(lambda: len(all_events(server.url, project.secret_key)) == before + len(batch))


def _first_round(start: datetime) -> list[dict[str, Any]]:
    t = start + timedelta(minutes=1)
    out = []
    for i in range(30):
        user = f"p{i}"
        variant = "test" if i % 2 else "control"
        out.append(exposure(user, FLAG, variant, t + timedelta(seconds=i)))
        out += [event("$pageview", user, t + timedelta(minutes=1 + k), {}) for k in range(i % 3)]
        if i % 3 == 0:
            plan = "pro" if i % 2 else "free"
            props = {"amount": 5 + i % 7, "plan": plan}
            out.append(event("purchase", user, t + timedelta(minutes=9), props))
        if i % 4 == 0:
            out.append(event("purchase", user, start - timedelta(hours=3), {"amount": 3}))
    # Two persons that a later $identify merges: the anonymous one is exposed, the other buys.
    out.append(exposure("anon-a", FLAG, "test", t))
    out.append(event("purchase", "known-a", t + timedelta(minutes=20), {"amount": 40}))
    return out


def _second_round(start: datetime) -> list[dict[str, Any]]:
    t = start + timedelta(minutes=30)
    out = []
    for i in range(30, 40):  # new people
        user = f"p{i}"
        out.append(exposure(user, FLAG, "test" if i % 2 else "control", t))
        out.append(event("$pageview", user, t + timedelta(minutes=1), {}))
    for i in range(5):  # late conversions of earlier people, one outside the 2-hour window
        late = timedelta(hours=3) if i == 4 else timedelta(minutes=40)
        props = {"amount": 11 + i, "plan": "pro"}
        out.append(event("purchase", f"p{i}", start + late, props))
    out.append(exposure("p5", FLAG, "control", t))  # p5 was in test: now seen with both
    out.append(event("purchase", "p6", start - timedelta(hours=2), {"amount": 8}))  # pre-period
    out.append(event("$identify", "known-a", t, {"$anon_distinct_id": "anon-a"}))
    return out


def test_incremental_refresh_matches_a_full_build(
    http: httpx.Client, server: Server, stack: Stack, project: Any
) -> None:
    create(http, project, multivariate_flag(FLAG, {"control": 50, "test": 50}, {}))
    start = (datetime.now(UTC) - timedelta(hours=5)).replace(microsecond=0)
    exp_id = _launch(http, project, start)

    _send(http, server, project, _first_round(start))
    first = _results(http, project, exp_id)
    built, refreshed, rows = _state(stack, exp_id)
    assert rows == 31
    assert _figures(first) == _figures(_results(http, project, _launch(http, project, start)))

    _send(http, server, project, _second_round(start))
    second = _results(http, project, exp_id)
    built2, refreshed2, rows2 = _state(stack, exp_id)
    assert built2 == built, "the second refresh must not rebuild everything"
    assert refreshed2 > refreshed
    # 10 new people; p5 is left out now, anon-a and known-a are one person.
    assert rows2 == 31 + 10 - 1
    twin = _results(http, project, _launch(http, project, start))
    _assert_same(second, twin)
    assert _figures(second) != _figures(first)

    # Nothing new: the rows stay as they are and the figures with them.
    third = _results(http, project, exp_id)
    assert _state(stack, exp_id)[0] == built
    _assert_same(third, second)


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    a, b = _figures(got), _figures(want)
    assert a.keys() == b.keys()
    for key, values in a.items():
        for x, y in zip(values, b[key], strict=True):
            if isinstance(x, (float, list)):
                assert x == pytest.approx(y, rel=1e-9, abs=1e-12), key
            else:
                assert x == y, key
