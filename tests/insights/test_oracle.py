"""Trends and funnels against the brute-force oracle: random queries over one generated event set
(captured through ``/batch``, persons and merges made by ingest's writer), in several time zones
and both week starts. Zero mismatches."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from tests.insights import oracle
from tests.insights.conftest import ask, put_settings
from tests.insights.factories import EVENTS, ZONES, Dataset

if TYPE_CHECKING:
    import httpx

MATHS = ("total", "dau", "unique_persons", "sum", "avg", "min", "max", "median", "p90", "p99")
FORMULAS = ("A/B", "A+B", "(A-B)*2", "A*100/B")
OPERATORS = (
    *("exact", "exact", "is_not", "is_set", "is_not_set", "icontains", "not_icontains"),
    *("regex", "not_regex", "gt", "gte", "lt", "lte"),
)
TRENDS_PER_ZONE = 40
FUNNELS_PER_ZONE = 12
ROLLUP_PER_ZONE = 8


def _filter(rng: random.Random) -> dict[str, Any]:
    key = rng.choice(("plan", "amount", "browser", "beta", "nothing"))
    operator = rng.choice(OPERATORS)
    values: dict[str, tuple[Any, ...]] = {
        "exact": (
            *("pro", "Free", ("pro", "team"), "true", True, False, 12.5, 7, "chrome"),
            *(("true", True), ("TRUE", "false")),
        ),
        "is_not": ("pro", "FREE", ("chrome", "safari"), True, "false", 40),
        "icontains": ("r", "PR", "u", "2"),
        "not_icontains": ("r", "e", "1"),
        "regex": ("^p", "e$", "[0-9]", "^(Chrome|Safari)$"),
        "not_regex": ("^p", "o"),
    }
    if operator in ("gt", "gte", "lt", "lte"):
        value: Any = rng.choice((5, "10", 12.5, 0))
    elif operator in ("is_set", "is_not_set"):
        value = None
    else:
        value = rng.choice(values[operator])
        value = list(value) if isinstance(value, tuple) else value
    return {"key": key, "operator": operator, "value": value, "type": "event"}


def _filters(rng: random.Random, p: float) -> list[dict[str, Any]]:
    return [_filter(rng)] if rng.random() < p else []


def _dates(rng: random.Random, now: datetime, interval: str) -> dict[str, Any]:
    if rng.random() < 0.15:
        relative = (
            "-30d",
            "-2w",
            "mStart",
            "-1m",
            "-48h",
            *(("all",) if interval != "hour" else ()),
        )
        return {"date_from": rng.choice(relative), "date_to": None}
    days = 4 if interval == "hour" else 60
    start = (now - timedelta(days=rng.uniform(1, 78))).date()
    end = min(start + timedelta(days=rng.randrange(days)), now.date())
    return {"date_from": start.isoformat(), "date_to": end.isoformat()}


def _range(dr: dict[str, Any], answer: dict[str, Any], tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The oracle's own range for absolute dates; the engine's resolved one for relative."""
    if not dr["date_from"].startswith(("-", "m", "all")):
        start = oracle.day_start(datetime.fromisoformat(dr["date_from"]).date(), tz)
        end = oracle.day_start(datetime.fromisoformat(dr["date_to"]).date() + timedelta(1), tz)
        return start, end
    resolved = answer["resolved_date_range"]
    return (
        datetime.fromisoformat(resolved["date_from"]).astimezone(UTC),
        datetime.fromisoformat(resolved["date_to"]).astimezone(UTC) + timedelta(microseconds=1),
    )


def _trend_query(rng: random.Random, now: datetime) -> dict[str, Any]:
    series = []
    for _ in range(rng.choice((1, 1, 2))):
        math = rng.choice(MATHS)
        node: dict[str, Any] = {
            "kind": "EventsNode",
            "event": rng.choice((*EVENTS, None)),
            "math": math,
            "properties": _filters(rng, 0.3),
        }
        if math not in ("total", "dau", "unique_persons"):
            node["math_property"] = "amount"
        series.append(node)
    interval = rng.choice(("hour", "day", "day", "week", "month"))
    query: dict[str, Any] = {
        "kind": "TrendsQuery",
        "series": series,
        "interval": interval,
        "dateRange": _dates(rng, now, interval),
        "properties": _filters(rng, 0.2),
    }
    if rng.random() < 0.3:
        query["breakdownFilter"] = {
            "breakdown": rng.choice(("plan", "browser", "amount", "beta")),
            "breakdown_type": "event",
            "breakdown_limit": rng.randrange(1, 5),
        }
    if rng.random() < 0.2:
        query["compareFilter"] = {"compare": True}
    if len(series) == 2 and rng.random() < 0.3:
        query["trendsFilter"] = {"formula": rng.choice(FORMULAS), "display": "ActionsLineGraph"}
    return query


def _expected_trend(
    data: Dataset, q: dict[str, Any], start: datetime, end: datetime, tz: ZoneInfo, ws: int
) -> list[tuple[str | None, list[float]]]:
    b = q.get("breakdownFilter")
    breakdown = (b["breakdown"], b["breakdown_limit"]) if b else None
    per_series = [
        oracle.trend_series(
            data.all, s, q["properties"], start, end, tz, q["interval"], ws, breakdown
        )
        for s in q["series"]
    ]
    formula = (q.get("trendsFilter") or {}).get("formula")
    if formula is None:
        return [row for rows in per_series for row in rows]
    order: list[str | None] = []
    for rows in per_series:
        order.extend(g for g, _ in rows if g not in order)
    n = len(oracle.bucket_list(start, end, tz, q["interval"], ws))
    found = [dict(rows) for rows in per_series]
    return [
        (
            g,
            [
                oracle.formula(formula, {"AB"[i]: found[i].get(g, [0.0] * n)[k] for i in (0, 1)})
                for k in range(n)
            ],
        )
        for g in order
    ]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _check_trend(
    data: Dataset, q: dict[str, Any], answer: dict[str, Any], tz: ZoneInfo, ws: int
) -> None:
    start, end = _range(q["dateRange"], answer, tz)
    expected = _expected_trend(data, q, start, end, tz, ws)
    if (q.get("compareFilter") or {}).get("compare"):
        p_start, p_end = oracle.previous_range(start, end, tz, q["interval"], ws)
        expected += _expected_trend(data, q, p_start, p_end, tz, ws)
    got = answer["results"]
    assert len(got) == len(expected), (q, got, expected)
    for row, (group, values) in zip(got, expected, strict=True):
        assert row.get("breakdown_value") == group, (q, row, group)
        assert len(row["data"]) == len(values), (q, row["days"], values)
        wrong = [
            (day, a, b)
            for day, a, b in zip(row["days"], row["data"], values, strict=True)
            if not _close(a, b)
        ]
        assert not wrong, (q, group, wrong)


def _funnel_query(rng: random.Random, now: datetime) -> dict[str, Any]:
    steps = [
        {
            "kind": "EventsNode",
            "event": rng.choice((*EVENTS, *EVENTS, None)),
            "properties": _filters(rng, 0.25),
        }
        for _ in range(rng.choice((2, 2, 3)))
    ]
    unit = rng.choice(("hour", "day", "day", "week"))
    query: dict[str, Any] = {
        "kind": "FunnelsQuery",
        "series": steps,
        "dateRange": _dates(rng, now, "day"),
        "properties": _filters(rng, 0.15),
        "funnelsFilter": {
            "funnelWindowInterval": rng.choice((1, 2, 14)),
            "funnelWindowIntervalUnit": unit,
            "funnelOrderType": rng.choice(("ordered", "ordered", "strict", "unordered")),
            "funnelVizType": "steps",
        },
    }
    if rng.random() < 0.35:
        query["breakdownFilter"] = {
            "breakdown": rng.choice(("plan", "browser", "amount")),
            "breakdown_limit": rng.randrange(1, 5),
        }
    return query


def _check_funnel(data: Dataset, q: dict[str, Any], answer: dict[str, Any], tz: ZoneInfo) -> None:
    start, end = _range(q["dateRange"], answer, tz)
    f = q["funnelsFilter"]
    window = f["funnelWindowInterval"] * oracle.WINDOW_UNITS[f["funnelWindowIntervalUnit"]]
    b = q.get("breakdownFilter")
    expected = oracle.funnel(
        data.all,
        q["series"],
        q["properties"],
        start,
        end,
        window,
        f["funnelOrderType"],
        (b["breakdown"], b["breakdown_limit"]) if b else None,
    )
    got = answer["results"] if b else [answer["results"]]
    assert len(got) == len(expected), (q, got, expected)
    for steps, (group, (reached, gaps)) in zip(got, expected, strict=True):
        assert [s.get("breakdown_value") for s in steps] == [group] * len(steps), (q, steps)
        assert [s["count"] for s in steps] == reached, (q, steps, reached)
        if f["funnelOrderType"] == "unordered":
            continue
        for k, step in enumerate(steps):
            if not gaps[k]:
                assert step["average_conversion_time"] is None
            else:
                mean = sum(gaps[k]) / len(gaps[k])
                assert _close(step["average_conversion_time"], mean), (q, k)


@pytest.mark.parametrize("zone", ZONES)
def test_queries_match_the_oracle(
    http: httpx.Client, dataset: tuple[Any, Dataset, datetime], zone: str
) -> None:
    project, data, now = dataset
    rng = random.Random(f"insights-{zone}")
    ws = rng.choice((0, 1))
    put_settings(http, project, {"timezone": zone, "week_start_day": ws})
    tz = ZoneInfo(zone)
    for _ in range(TRENDS_PER_ZONE):
        q = _trend_query(rng, now)
        _check_trend(data, q, ask(http, project, q), tz, ws)
    for _ in range(ROLLUP_PER_ZONE):
        # Total counts of one event without filters: the hourly rollup where the zone's offset
        # is whole hours (not in Kolkata, UTC+5:30).
        q = _trend_query(rng, now)
        q["properties"], q["series"] = [], [{"kind": "EventsNode", "event": rng.choice(EVENTS)}]
        q.pop("breakdownFilter", None)
        q.pop("trendsFilter", None)
        answer = ask(http, project, q)
        assert answer["served_by_rollup"] is (zone != "Asia/Kolkata")
        _check_trend(data, q, answer, tz, ws)
    for _ in range(FUNNELS_PER_ZONE):
        q = _funnel_query(rng, now)
        _check_funnel(data, q, ask(http, project, q), tz)
