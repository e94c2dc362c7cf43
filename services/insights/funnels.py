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
from services.insights.repo.fragments import OTHER
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
    breakdown: str | None = None
    limit: int = 25


def plan(project_id: int, query: FunnelsQuery, *, max_series: int, default_limit: int) -> Plan:
    """Check a FunnelsQuery; :class:`InvalidQuery` naming the first bad field."""
    at = "query"
    if len(query.series) < 2:
        raise validate.fail(f"{at}.series", "a funnel needs at least two steps")
    if len(query.series) > max_series:
        raise validate.fail(f"{at}.series", f"at most {max_series} steps")
    validate.unsupported(f"{at}.aggregation_group_type_index", query.aggregation_group_type_index)
    validate.unsupported(f"{at}.samplingFactor", query.samplingFactor)
    key, limit = validate.breakdown(query.breakdownFilter, f"{at}.breakdownFilter", default_limit)
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
    return Plan(project_id, query.series, scopes, unit * window_n, order, key, limit)


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


def walk(events: list[Event], n: int, window: timedelta, order: str) -> tuple[int, list[datetime]]:
    """Where one person's furthest attempt starts, and the times of the steps it reached."""
    best: list[datetime] = []
    best_start = -1
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
            best, best_start = times, start
            if len(best) == n:
                break
    return best_start, best


@dataclass
class _Tally:
    """Persons reaching each step, and the gaps between steps, of one breakdown value."""

    reached: list[int]
    gaps: list[list[float]]

    def add(self, times: list[datetime]) -> None:
        """Count one person who reached the steps at ``times``."""
        for k in range(len(times)):
            self.reached[k] += 1
            if k > 0:
                self.gaps[k].append((times[k] - times[k - 1]).total_seconds())


def _steps(p: Plan, tally: _Tally, group: str | None) -> list[dict[str, Any]]:
    out = []
    for k, node in enumerate(p.steps):
        gaps = tally.gaps[k]
        step: dict[str, Any] = {
            "action_id": node.event,
            "name": name_of(node),
            "custom_name": node.custom_name,
            "order": k,
            "type": "events",
            "count": tally.reached[k],
            "average_conversion_time": statistics.fmean(gaps) if gaps else None,
            "median_conversion_time": statistics.median(gaps) if gaps else None,
        }
        if group is not None:
            step["breakdown"] = step["breakdown_value"] = group
        out.append(step)
    return out


async def run(conn: Conn, p: Plan, r: dates.Range) -> list[Any]:
    """PostHog's funnel steps: per step its count and conversion times (seconds); with a
    breakdown, one list of steps per value (the value on the event that started the person's
    funnel: PostHog's first-touch attribution), the most persons first, the values past the
    limit as one "other" group."""
    scopes = [
        repo.Scope(p.project_id, r.start, r.end, node.event, p.scopes[i])
        for i, node in enumerate(p.steps)
    ]
    rows = await repo.funnel_events(
        conn,
        p.project_id,
        r.start,
        r.end,
        scopes,
        every_event=p.order == "strict",
        breakdown=p.breakdown,
    )
    n = len(p.steps)
    tallies: dict[str | None, _Tally] = {}
    for _, person_rows in groupby(rows, key=lambda row: row[0]):
        found = list(person_rows)
        start, times = walk([(t, mask) for _, t, mask, _ in found], n, p.window, p.order)
        if not times:
            continue
        group = found[start][3] if p.breakdown is not None else None
        tallies.setdefault(group, _Tally([0] * n, [[] for _ in range(n)])).add(times)
    if p.breakdown is None:
        return _steps(p, tallies.get(None) or _Tally([0] * n, [[] for _ in range(n)]), None)
    ranked = sorted(tallies, key=lambda g: (-tallies[g].reached[0], str(g).encode()))
    results = [_steps(p, tallies[g], g) for g in ranked[: p.limit]]
    if len(ranked) > p.limit:
        other = _Tally([0] * n, [[] for _ in range(n)])
        for g in ranked[p.limit :]:
            other.reached = [a + b for a, b in zip(other.reached, tallies[g].reached, strict=True)]
            other.gaps = [a + b for a, b in zip(other.gaps, tallies[g].gaps, strict=True)]
        results.append(_steps(p, other, OTHER))
    return results
