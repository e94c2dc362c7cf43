"""The query API: credentials, PostHog's path, the result shapes on a small known event set,
bad queries refused naming the field, PostHog's extra keys accepted, and the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.insights.conftest import ask, auth, put_settings
from tests.support import count_rows, wait_for

if TYPE_CHECKING:
    import httpx

    from tests.support import Stack

DAY = "2026-11-10"


def _ev(event: str, who: str, at: str, **props: Any) -> dict[str, Any]:
    return {"event": event, "distinct_id": who, "timestamp": at, "properties": props}


@pytest.fixture
def known(http: httpx.Client, stack: Stack) -> Any:
    """A project with a few events on 2026-11-10 and 11 (UTC)."""
    project = stack.project("insights-api")
    batch = [
        _ev("pageview", "a", f"{DAY}T09:00:00Z", plan="pro", amount=10),
        _ev("pageview", "a", f"{DAY}T10:00:00Z", plan="free", amount=5),
        _ev("signup", "a", f"{DAY}T10:30:00Z"),
        _ev("pageview", "b", f"{DAY}T11:00:00Z", plan="pro"),
        _ev("pageview", "b", "2026-11-11T08:00:00Z", plan="pro", amount=1),
        _ev("$identify", "user-b", "2026-11-11T08:05:00Z", **{"$anon_distinct_id": "b"}),
        _ev("signup", "user-b", "2026-11-11T09:00:00Z"),
    ]
    res = http.post("/batch", json={"api_key": project.token, "batch": batch})
    assert res.status_code == 200, res.text
    wait_for(lambda: count_rows(stack.database_url, project.id) >= len(batch))
    return project


def _trend(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "TrendsQuery",
        "series": [{"kind": "EventsNode", "event": "pageview", "math": "total"}],
        "dateRange": {"date_from": DAY, "date_to": "2026-11-11"},
        **extra,
    }


def test_trend_in_posthog_shape(http: httpx.Client, known: Any) -> None:
    answer = ask(http, known, _trend())
    (row,) = answer["results"]
    assert row["data"] == [3, 1]
    assert row["days"] == ["2026-11-10", "2026-11-11"]
    assert row["labels"] == ["10-Nov-2026", "11-Nov-2026"]
    assert row["count"] == 4
    assert row["label"] == "pageview"
    assert row["action"]["math"] == "total"
    # A total count of one event without filters, whole UTC hours: the hourly rollup.
    assert answer["served_by_rollup"] is True
    filtered = ask(http, known, _trend(properties=[{"key": "plan", "operator": "is_set"}]))
    assert filtered["served_by_rollup"] is False
    assert {t["k"] for t in answer["timings"]} >= {"sql"}
    assert answer["resolved_date_range"] == {
        "date_from": "2026-11-10T00:00:00+00:00",
        "date_to": "2026-11-11T23:59:59.999999+00:00",
    }


def test_breakdown_compare_and_formula(http: httpx.Client, known: Any) -> None:
    broken = ask(http, known, _trend(breakdownFilter={"breakdown": "plan", "breakdown_limit": 1}))
    assert [(r["breakdown_value"], r["data"]) for r in broken["results"]] == [
        ("pro", [2, 1]),
        ("$$_posthog_breakdown_other_$$", [1, 0]),
    ]
    compared = ask(http, known, _trend(compareFilter={"compare": True}))
    assert [(r["compare_label"], r["days"]) for r in compared["results"]] == [
        ("current", ["2026-11-10", "2026-11-11"]),
        ("previous", ["2026-11-08", "2026-11-09"]),
    ]
    series = [
        {"kind": "EventsNode", "event": "pageview"},
        {"kind": "EventsNode", "event": "signup", "math": "dau"},
    ]
    ratio = ask(http, known, _trend(series=series, trendsFilter={"formula": "A/B"}))
    assert ratio["results"][0]["data"] == [3, 1]


def test_unique_persons_count_a_merged_person_once(http: httpx.Client, known: Any) -> None:
    q = _trend(
        series=[{"kind": "EventsNode", "event": None, "math": "unique_persons"}],
        dateRange={"date_from": DAY, "date_to": "2026-11-11"},
        interval="week",
    )
    assert ask(http, known, q)["results"][0]["data"] == [2]


def test_property_math_and_filters(http: httpx.Client, known: Any) -> None:
    series = [{"kind": "EventsNode", "event": "pageview", "math": "sum", "math_property": "amount"}]
    assert ask(http, known, _trend(series=series))["results"][0]["data"] == [15, 1]
    pro = [{"key": "plan", "operator": "exact", "value": "PRO", "type": "event"}]
    assert ask(http, known, _trend(properties=pro))["results"][0]["data"] == [2, 1]


def test_funnel_in_posthog_shape(http: httpx.Client, known: Any) -> None:
    q = {
        "kind": "FunnelsQuery",
        "series": [
            {"kind": "EventsNode", "event": "pageview"},
            {"kind": "EventsNode", "event": "signup"},
        ],
        "dateRange": {"date_from": DAY, "date_to": "2026-11-11"},
        "funnelsFilter": {"funnelWindowInterval": 1, "funnelWindowIntervalUnit": "day"},
    }
    steps = ask(http, known, q)["results"]
    assert [(s["name"], s["order"], s["count"]) for s in steps] == [
        ("pageview", 0, 2),
        ("signup", 1, 2),
    ]
    # a: 09:00 -> 10:30; b (merged with user-b): 11:00 -> next day 09:00.
    assert steps[1]["average_conversion_time"] == (5400 + 79200) / 2


def test_posthog_path_and_credentials(http: httpx.Client, known: Any) -> None:
    body = {"query": _trend()}
    assert http.post("/api/query", json=body).status_code == 401
    for path in ("/api/projects/@current/query/", f"/api/projects/{known.id}/query"):
        res = http.post(path, json=body, headers=auth(known))
        assert res.status_code == 200, res.text


def test_posthog_extra_keys_are_accepted(http: httpx.Client, known: Any) -> None:
    body = {
        "query": _trend(
            trendsFilter={"display": "ActionsLineGraph", "showLegend": True},
            filterTestAccounts=False,
            modifiers={"personsOnEventsMode": "x"},
        ),
        "refresh": "blocking",
        "client_query_id": "abc",
        "async": False,
    }
    res = http.post("/api/query", json=body, headers=auth(known))
    assert res.status_code == 200, res.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"serie": []}, "query.serie"),
        ({"interval": "minute"}, "query.interval"),
        ({"series": []}, "query.series"),
        ({"series": [{"kind": "EventsNode", "event": "x", "math": "avg"}]}, "query.series[0]"),
        ({"series": [{"kind": "EventsNode", "math": "weird"}]}, "query.series[0].math"),
        ({"series": [{"kind": "ActionsNode", "id": 1}]}, "query.series[0].kind"),
        ({"dateRange": {"date_from": "yesterday"}}, "query.dateRange"),
        ({"properties": [{"key": "a", "operator": "nope"}]}, "query.properties[0].operator"),
        ({"properties": [{"key": "a", "operator": "gt", "value": "x"}]}, "query.properties[0]"),
        ({"properties": [{"key": "a", "type": "person"}]}, "query.properties[0].type"),
        ({"properties": [{"key": "a", "operator": "regex", "value": "("}]}, "query.properties"),
        ({"breakdownFilter": {"breakdown": "a", "breakdown_type": "person"}}, "query.breakdown"),
        ({"compareFilter": {"compare": True, "compare_to": "-1w"}}, "query.compareFilter"),
        ({"trendsFilter": {"formula": "A/C"}}, "query.trendsFilter.formula"),
        ({"aggregation_group_type_index": 0}, "query.aggregation_group_type_index"),
        ({"trendsFilter": {"smoothingIntervals": 7}}, "query.trendsFilter.smoothingIntervals"),
        ({"trendsFilter": {"formulas": ["A", "A*2"]}}, "query.trendsFilter.formulas"),
        (
            {"series": [{"kind": "EventsNode", "event": "x", "math_multiplier": 2}]},
            "query.series[0].math_multiplier",
        ),
    ],
)
def test_bad_queries_name_the_field(
    http: httpx.Client, known: Any, change: dict[str, Any], field: str
) -> None:
    problem = ask(http, known, {**_trend(), **change}, status=400)
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem


def test_unknown_kind_is_refused(http: httpx.Client, known: Any) -> None:
    problem = ask(http, known, {"kind": "HogQLQuery", "query": "select 1"}, status=400)
    assert problem["errors"][0]["field"].startswith("query")


def test_settings_and_day_boundaries(http: httpx.Client, known: Any) -> None:
    res = http.get("/api/insights/settings", headers=auth(known))
    assert res.json() == {"timezone": "UTC", "week_start_day": 0}
    put_settings(http, known, {"timezone": "Asia/Tokyo", "week_start_day": 1})
    # In Tokyo (UTC+9) the 11:00 UTC pageview of the 10th falls on the 10th still, the 08:00 UTC
    # one of the 11th on the 11th; the day starts at 15:00 UTC the day before.
    answer = ask(http, known, _trend())
    assert answer["timezone"] == "Asia/Tokyo"
    assert answer["resolved_date_range"]["date_from"] == "2026-11-10T00:00:00+09:00"
    bad = http.put("/api/insights/settings", json={"timezone": "Mars/Base"}, headers=auth(known))
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "timezone"
