"""The experiments API against the real platform: create/launch/stop, results computed from
events captured through the public API, and the bad-input contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.experiments import stats
from tests.experiments.factories import event
from tests.flags.factories import admin, create, fields, multivariate_flag, rollout_flag
from tests.support import all_events, wait_for

PRIMARY = {
    "name": "purchase",
    "kind": "conversion",
    "event": "purchase",
    "window_hours": 72,
    "role": "primary",
}
REVENUE = {
    "name": "revenue",
    "kind": "mean",
    "event": "purchase",
    "property": "amount",
    "role": "secondary",
}
VIEWS = {"name": "views", "kind": "count", "event": "$pageview", "role": "guardrail"}


def _experiment(http: httpx.Client, project: Any, flag_key: str, **extra: Any) -> httpx.Response:
    body = {
        "name": "Checkout v2",
        "feature_flag_key": flag_key,
        "metrics": [PRIMARY, REVENUE, VIEWS],
        **extra,
    }
    # The experiments service learns flags from flags.changed on NATS: wait until it has this one.
    return wait_for(
        lambda: (
            (r := http.post("/api/experiments", json=body, headers=admin(project))).status_code
            != 400
            and r
        )
    )


def test_results_from_captured_events(http: httpx.Client, server: Any, project: Any) -> None:
    create(http, project, multivariate_flag("checkout-v2", {"control": 50, "test": 50}, {}))
    # Started three hours ago, so every event below is in the past when results are computed.
    began = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    made = _experiment(
        http,
        project,
        "checkout-v2",
        analysis={"engine": "frequentist", "min_sample": 10, "min_conversions": 5},
        start_at=began,
    )
    assert made.status_code == 201, made.text
    exp = made.json()
    assert exp["status"] == "draft"
    launched = http.post(f"/api/experiments/{exp['id']}/launch", headers=admin(project))
    assert launched.status_code == 200, launched.text
    assert launched.json()["status"] == "running"
    start = datetime.fromisoformat(launched.json()["start_at"])

    # 60 people per variant; in test more buy and spend more; one person saw both (excluded).
    expected: dict[str, list[tuple[int, float, int]]] = {"control": [], "test": []}
    events: list[dict[str, Any]] = []
    t = start + timedelta(seconds=5)
    for i in range(120):
        variant = "control" if i % 2 else "test"
        user = f"user-{i}"
        events.append(
            event(
                "$feature_flag_called",
                user,
                t,
                {"$feature_flag": "checkout-v2", "$feature_flag_response": variant},
            )
        )
        bought = i % (3 if variant == "test" else 5) == 0
        amount = float(10 + i % 7) if bought else 0.0
        if bought:
            events.append(event("purchase", user, t + timedelta(minutes=5), {"amount": amount}))
        views = i % 4
        events.extend(
            event("$pageview", user, t + timedelta(minutes=1 + k), {}) for k in range(views)
        )
        expected[variant].append((int(bought), amount, views))
    both = "user-both"
    events.append(
        event(
            "$feature_flag_called",
            both,
            t,
            {"$feature_flag": "checkout-v2", "$feature_flag_response": "control"},
        )
    )
    events.append(
        event(
            "$feature_flag_called",
            both,
            t + timedelta(seconds=1),
            {"$feature_flag": "checkout-v2", "$feature_flag_response": "test"},
        )
    )
    events.append(event("purchase", both, t + timedelta(minutes=2), {"amount": 999.0}))
    # Before the start and of another flag: not exposures.
    events.append(
        event(
            "$feature_flag_called",
            "early",
            start - timedelta(hours=1),
            {"$feature_flag": "checkout-v2", "$feature_flag_response": "test"},
        )
    )
    events.append(
        event(
            "$feature_flag_called",
            "other",
            t,
            {"$feature_flag": "other-flag", "$feature_flag_response": "test"},
        )
    )
    r = http.post("/batch/", json={"api_key": project.token, "batch": events})
    assert r.status_code == 200, r.text
    wait_for(lambda: len(all_events(server.url, project.secret_key)) == len(events))

    res = http.get(
        f"/api/experiments/{exp['id']}/results", params={"refresh": "true"}, headers=admin(project)
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["control"] == "control"
    by_metric = {m["name"]: m for m in body["metrics"]}
    for name, column, kind in (
        ("purchase", 0, "proportion"),
        ("revenue", 1, "mean"),
        ("views", 2, "mean"),
    ):
        variants = {v["key"]: v for v in by_metric[name]["variants"]}
        assert variants["control"]["exposures"] == 60
        assert variants["test"]["exposures"] == 60
        sample = {
            v: stats.SampleStats(
                len(rows), sum(r[column] for r in rows), sum(r[column] ** 2 for r in rows)
            )
            for v, rows in expected.items()
        }
        analysis = stats.Analysis(
            engine="frequentist", metric=kind, min_sample=10, min_conversions=5
        )
        (want,) = stats.analyze(sample["control"], {"test": sample["test"]}, analysis)
        got = variants["test"]
        assert got["status"] == want.status
        assert got["value"] == pytest.approx(sample["test"].sum / 60)
        assert variants["control"]["value"] == pytest.approx(sample["control"].sum / 60)
        assert want.status == "ok", name
        if want.status == "ok":
            assert got["effect"] == pytest.approx(want.effect)
            assert got["p_value"] == pytest.approx(want.p_value)
            assert got["interval"] == pytest.approx(list(want.interval))
    assert body["srm_p_value"] == pytest.approx(1.0)

    stopped = http.post(f"/api/experiments/{exp['id']}/stop", headers=admin(project))
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped"
    assert (
        http.post(f"/api/experiments/{exp['id']}/stop", headers=admin(project)).status_code == 409
    )


def test_launch_refuses_bad_flags(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("boolean-flag"))
    exp = _experiment(http, project, "boolean-flag").json()
    r = http.post(f"/api/experiments/{exp['id']}/launch", headers=admin(project))
    assert r.status_code == 400
    assert fields(r) == ["feature_flag_key"]
    create(http, project, multivariate_flag("archived-mv", {"a": 50, "b": 50}, {}))
    http.delete("/api/feature_flags/archived-mv", headers=admin(project))

    def refused() -> int | None:
        # A new draft each time: until the experiments service has consumed the archive, a
        # launch still succeeds, and a launched experiment could never be refused afterwards.
        created = _experiment(http, project, "archived-mv")
        if created.status_code != 201:
            return None  # the flag itself is not known to the experiments service yet
        exp_id: int = created.json()["id"]
        r = http.post(f"/api/experiments/{exp_id}/launch", headers=admin(project))
        return exp_id if r.status_code == 400 and "archived" in r.text else None

    refused_id = wait_for(refused)
    status = http.get(f"/api/experiments/{refused_id}", headers=admin(project)).json()["status"]
    assert status == "draft"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"feature_flag_key": "mv", "metrics": [PRIMARY]}, "name"),
        (
            {"name": "x", "feature_flag_key": "mv", "metrics": [{**PRIMARY, "kind": "magic"}]},
            "metrics[0].kind",
        ),
        ({"name": "x", "feature_flag_key": "mv", "metrics": [PRIMARY], "colour": 1}, "colour"),
        ({"name": "x", "feature_flag_key": "mv", "metrics": [REVENUE]}, "metrics"),
        (
            {
                "name": "x",
                "feature_flag_key": "mv",
                "metrics": [PRIMARY, {**REVENUE, "property": None}],
            },
            "metrics[1].property",
        ),
        (
            {
                "name": "x",
                "feature_flag_key": "mv",
                "metrics": [PRIMARY],
                "analysis": {"confidence": 2},
            },
            "analysis.confidence",
        ),
        ({"name": "x", "feature_flag_key": "nope", "metrics": [PRIMARY]}, "feature_flag_key"),
        (
            {
                "name": "x",
                "feature_flag_key": "mv",
                "metrics": [PRIMARY, {"name": "f", "kind": "funnel", "steps": ["a"]}],
            },
            "metrics[1].steps",
        ),
    ],
    ids=[
        "name-missing",
        "bad-kind",
        "unknown-field",
        "no-primary",
        "property-missing",
        "confidence",
        "unknown-flag",
        "short-funnel",
    ],
)
def test_bad_experiments(
    http: httpx.Client, project: Any, body: dict[str, Any], field: str
) -> None:
    create(http, project, multivariate_flag("mv", {"a": 50, "b": 50}, {}))
    _experiment(http, project, "mv")  # the flag has reached the experiments service
    r = http.post("/api/experiments", json=body, headers=admin(project))
    assert r.status_code == 400, r.text
    assert field in fields(r)
    assert len(http.get("/api/experiments", headers=admin(project)).json()["results"]) == 1


def test_malformed_oversized_unauthorized_and_missing(http: httpx.Client, project: Any) -> None:
    for raw in (b"{oops", b"", b"[]"):
        r = http.post("/api/experiments", content=raw, headers=admin(project))
        assert r.status_code == 400
        assert fields(r) == ["body"]
    r = http.post(
        "/api/experiments", content=b"{" + b" " * (300 * 1024) + b"}", headers=admin(project)
    )
    assert r.status_code == 413
    for method, path in (
        ("GET", "/api/experiments"),
        ("POST", "/api/experiments"),
        ("GET", "/api/experiments/1"),
        ("PATCH", "/api/experiments/1"),
        ("POST", "/api/experiments/1/launch"),
        ("POST", "/api/experiments/1/stop"),
        ("GET", "/api/experiments/1/results"),
    ):
        r = http.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert fields(r) == ["Authorization"]
    missing = http.get("/api/experiments/999999", headers=admin(project))
    assert missing.status_code == 404
    assert fields(missing) == ["id"]


def test_deeply_nested_nul_and_oversized_bodies(http: httpx.Client, project: Any) -> None:
    create(http, project, multivariate_flag("mvn", {"a": 50, "b": 50}, {}))
    exp = _experiment(http, project, "mvn").json()
    deep = b'{"name": "x", "description": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    nul = {"name": "x", "feature_flag_key": "mvn", "metrics": [{**PRIMARY, "event": "a\x00"}]}
    for method, path in (("POST", "/api/experiments"), ("PATCH", f"/api/experiments/{exp['id']}")):
        r = http.request(method, path, content=deep, headers=admin(project))
        assert r.status_code == 400, r.text
        assert fields(r) == ["body"]
        r = http.request(method, path, json=nul, headers=admin(project))
        assert r.status_code == 400, r.text
        assert fields(r) == ["metrics[0].event"]
        r = http.request(method, path, json={"name": "x" * (300 * 1024)}, headers=admin(project))
        assert r.status_code == 413, r.text
        assert fields(r) == ["body"]
        r = http.request(method, path, json={"metrics": [{"name": "m"}]}, headers=admin(project))
        assert r.status_code == 400, r.text
        assert fields(r) == ["metrics[0].kind"]
    got = http.get(f"/api/experiments/{exp['id']}", headers=admin(project)).json()
    assert got["name"] == exp["name"]
    assert len(http.get("/api/experiments", headers=admin(project)).json()["results"]) == 1


def test_patch_and_draft_results(http: httpx.Client, project: Any) -> None:
    create(http, project, multivariate_flag("mv2", {"a": 50, "b": 50}, {}))
    exp = _experiment(http, project, "mv2").json()
    r = http.patch(
        f"/api/experiments/{exp['id']}",
        json={"name": "Renamed", "analysis": {"engine": "bayesian", "cuped": True}},
        headers=admin(project),
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed"
    assert r.json()["analysis"]["cuped"] is True
    assert r.json()["metrics"] == exp["metrics"]
    bad = http.patch(f"/api/experiments/{exp['id']}", json={"metrics": []}, headers=admin(project))
    assert bad.status_code == 400
    assert (
        http.get(f"/api/experiments/{exp['id']}/results", headers=admin(project)).status_code == 409
    )


def test_ratio_funnel_and_cuped_statistics(http: httpx.Client, server: Any, project: Any) -> None:
    create(http, project, multivariate_flag("rfc", {"control": 50, "test": 50}, {}))
    start = datetime.now(UTC) - timedelta(hours=3)
    amount = {"name": "amount", "kind": "sum", "event": "purchase", "property": "amount"}
    orders = {"name": "orders", "kind": "count", "event": "purchase"}
    metrics = [
        {
            "name": "spend",
            "kind": "mean",
            "event": "purchase",
            "property": "amount",
            "role": "primary",
        },
        {"name": "per-order", "kind": "ratio", "numerator": amount, "denominator": orders},
        {
            "name": "funnel",
            "kind": "funnel",
            "steps": ["$pageview", "checkout", "purchase"],
            "window_hours": 1,
        },
    ]
    analysis = {
        "engine": "bayesian",
        "cuped": True,
        "pre_period_days": 1,
        "min_sample": 5,
        "min_conversions": 1,
    }
    body = {
        "name": "RFC",
        "feature_flag_key": "rfc",
        "metrics": metrics,
        "analysis": analysis,
        "start_at": start.isoformat(),
    }
    exp = wait_for(
        lambda: (
            (r := http.post("/api/experiments", json=body, headers=admin(project))).status_code
            == 201
            and r
        )
    ).json()
    assert (
        http.post(f"/api/experiments/{exp['id']}/launch", headers=admin(project)).status_code == 200
    )

    t = start + timedelta(minutes=1)
    events: list[dict[str, Any]] = []
    spend: dict[str, list[tuple[float, float]]] = {"control": [], "test": []}  # (value, pre-value)
    ratio: dict[str, list[tuple[float, float]]] = {"control": [], "test": []}  # (amount, orders)
    funnel: dict[str, list[int]] = {"control": [], "test": []}
    for i in range(40):
        variant = "test" if i % 2 else "control"
        user = f"u{i}"
        pre_value = float(i % 5)
        if pre_value:  # before the start: the CUPED covariate
            events.append(
                event("purchase", user, start - timedelta(hours=2), {"amount": pre_value})
            )
        events.append(
            event(
                "$feature_flag_called",
                user,
                t,
                {"$feature_flag": "rfc", "$feature_flag_response": variant},
            )
        )
        n_orders = i % 3
        amounts = [float(5 + i % 4 + k) for k in range(n_orders)]
        for k, a in enumerate(amounts):
            events.append(event("purchase", user, t + timedelta(minutes=10 + k), {"amount": a}))
        # Funnel: pageview then checkout then purchase, in order, within the hour.
        events.append(event("$pageview", user, t + timedelta(minutes=2), {}))
        checkout = i % 4 != 0
        if checkout:
            events.append(event("checkout", user, t + timedelta(minutes=5), {}))
        spend[variant].append((sum(amounts), pre_value))
        ratio[variant].append((sum(amounts), float(n_orders)))
        funnel[variant].append(int(checkout and n_orders > 0))
    assert http.post("/batch/", json={"api_key": project.token, "batch": events}).status_code == 200
    wait_for(lambda: len(all_events(server.url, project.secret_key)) == len(events))
    res = http.get(
        f"/api/experiments/{exp['id']}/results", params={"refresh": "true"}, headers=admin(project)
    ).json()
    got = {m["name"]: {v["key"]: v for v in m["variants"]} for m in res["metrics"]}

    def sample(rows: list[tuple[float, float]]) -> stats.SampleStats:
        return stats.SampleStats(
            len(rows),
            sum(v for v, _ in rows),
            sum(v * v for v, _ in rows),
            pre_sum=sum(p for _, p in rows),
            pre_sum_squares=sum(p * p for _, p in rows),
            sum_product=sum(v * p for v, p in rows),
        )

    def ratio_stats(rows: list[tuple[float, float]]) -> stats.RatioStats:
        return stats.RatioStats(
            len(rows),
            sum(m for m, _ in rows),
            sum(m * m for m, _ in rows),
            sum(d for _, d in rows),
            sum(d * d for _, d in rows),
            sum(m * d for m, d in rows),
        )

    def funnel_stats(rows: list[int]) -> stats.SampleStats:
        return stats.SampleStats(len(rows), sum(rows), sum(rows))

    checks = [
        (
            "spend",
            sample,
            spend,
            stats.Analysis(engine="bayesian", cuped=True, min_sample=5, min_conversions=1),
        ),
        (
            "per-order",
            ratio_stats,
            ratio,
            stats.Analysis(engine="bayesian", min_sample=5, min_conversions=1),
        ),
        (
            "funnel",
            funnel_stats,
            funnel,
            stats.Analysis(engine="bayesian", metric="proportion", min_sample=5, min_conversions=1),
        ),
    ]
    for name, build, data, analysis_ in checks:
        (want,) = stats.analyze(build(data["control"]), {"test": build(data["test"])}, analysis_)
        assert want.status == "ok", name
        have = got[name]["test"]
        assert have["status"] == "ok", name
        assert have["effect"] == pytest.approx(want.effect), name
        assert have["chance_to_win"] == pytest.approx(want.chance_to_win), name
        assert have["interval"] == pytest.approx(list(want.interval)), name
