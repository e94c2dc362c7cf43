"""FunnelsQuery: how many persons did the steps within the conversion window.

The database returns each person's events that match a step (every event for a strict funnel),
in time order, with a bitmask of the steps each matches; the walk below decides per person how
far they got. Every step's event lies in the query's range, each step is a different event, and
the window runs from the first step's time.

- ``ordered``: steps in order, other events allowed in between.
- ``strict``: steps in order with no other event of the person in between.
- ``unordered``: the steps in any order, each matched by some event within the window.

A person counts in step ``k`` when they reached at least ``k + 1`` steps from one start, the
start that gets furthest (the earliest of those); conversion times are that attempt's, each step
matched by the earliest event that can.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any

from services.insights import dates, validate
from services.insights.repo import events as repo
from services.insights.trends import name_of

if TYPE_CHECKING:
    from schemas.insights import EventsNode, FunnelsQuery
    from services.insights.repo import Conn

_UNITS = {
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
}
Event = tuple[datetime, int]  # time, bitmask of matched steps


@dataclass(frozen=True)
class Plan:
    """A validated funnel."""

    project_id: int
    steps: list[EventsNode]
    scopes: list[list[repo.Filter]]
    window: timedelta
    order: str


def plan(project_id: int, query: FunnelsQuery, *, max_series: int) -> Plan:
    """Check a FunnelsQuery; :class:`InvalidQuery` naming the first bad field."""
    at = "query"
    if len(query.series) < 2:
        raise validate.fail(f"{at}.series", "a funnel needs at least two steps")
    if len(query.series) > max_series:
        raise validate.fail(f"{at}.series", f"at most {max_series} steps")
    validate.unsupported(f"{at}.aggregation_group_type_index", query.aggregation_group_type_index)
    validate.unsupported(f"{at}.samplingFactor", query.samplingFactor)
    if query.breakdownFilter is not None:
        validate.unsupported(f"{at}.breakdownFilter.breakdown", query.breakdownFilter.breakdown)
    f = query.funnelsFilter
    if f is not None:
        validate.unsupported(f"{at}.funnelsFilter.exclusions", f.exclusions)
        validate.unsupported(f"{at}.funnelsFilter.funnelAggregateByHogQL", f.funnelAggregateByHogQL)
    window_n = f.funnelWindowInterval if f else 14
    if not 1 <= window_n <= 100_000:
        raise validate.fail(f"{at}.funnelsFilter.funnelWindowInterval", "must be 1 to 100000")
    unit = _UNITS[f.funnelWindowIntervalUnit if f else "day"]
    shared = validate.filters(query.properties, f"{at}.properties")
    scopes = []
    for i, node in enumerate(query.series):
        validate.series_node(node, f"{at}.series[{i}]", math=False)
        scopes.append(shared + validate.filters(node.properties, f"{at}.series[{i}].properties"))
    order = f.funnelOrderType if f else "ordered"
    return Plan(project_id, query.series, scopes, unit * window_n, order)


def _ordered(
    events: list[Event], start: int, n: int, window: timedelta, strict: bool
) -> list[datetime]:
    times = [events[start][0]]
    at = start
    for k in range(1, n):
        nxt = at + 1
        if strict:
            candidates = [nxt] if nxt < len(events) else []
        else:
            candidates = [j for j in range(nxt, len(events)) if events[j][1] >> k & 1]
        found = next(
            (j for j in candidates if events[j][1] >> k & 1 and events[j][0] - times[0] <= window),
            None,
        )
        if found is None:
            break
        times.append(events[found][0])
        at = found
    return times


def _unordered(events: list[Event], start: int, n: int, window: timedelta) -> list[datetime]:
    t0 = events[start][0]
    seen: dict[int, datetime] = {}
    for t, mask in events[start:]:
        if t - t0 > window:
            break
        for k in range(n):
            if mask >> k & 1 and k not in seen:
                seen[k] = t
    times = sorted(seen.values())
    return times if seen else []


def walk(events: list[Event], n: int, window: timedelta, order: str) -> list[datetime]:
    """The times of the steps one person reached in their furthest attempt."""
    best: list[datetime] = []
    for start, (_, mask) in enumerate(events):
        if order == "unordered":
            if mask == 0:
                continue
            times = _unordered(events, start, n, window)
        else:
            if not mask & 1:
                continue
            times = _ordered(events, start, n, window, order == "strict")
        if len(times) > len(best):
            best = times
            if len(best) == n:
                break
    return best


async def run(conn: Conn, p: Plan, r: dates.Range) -> list[dict[str, Any]]:
    """PostHog's funnel steps: per step its count and conversion times (seconds)."""
    scopes = [
        repo.Scope(p.project_id, r.start, r.end, node.event, p.scopes[i])
        for i, node in enumerate(p.steps)
    ]
    rows = await repo.funnel_events(
        conn, p.project_id, r.start, r.end, scopes, every_event=p.order == "strict"
    )
    n = len(p.steps)
    reached = [0] * n
    gaps: list[list[float]] = [[] for _ in range(n)]
    for _, person_rows in groupby(rows, key=lambda row: row[0]):
        events = [(t, mask) for _, t, mask, _ in person_rows]
        times = walk(events, n, p.window, p.order)
        for k in range(len(times)):
            reached[k] += 1
            if k > 0:
                gaps[k].append((times[k] - times[k - 1]).total_seconds())
    return [
        {
            "action_id": node.event,
            "name": name_of(node),
            "custom_name": node.custom_name,
            "order": k,
            "type": "events",
            "count": reached[k],
            "average_conversion_time": statistics.fmean(gaps[k]) if gaps[k] else None,
            "median_conversion_time": statistics.median(gaps[k]) if gaps[k] else None,
        }
        for k, node in enumerate(p.steps)
    ]
