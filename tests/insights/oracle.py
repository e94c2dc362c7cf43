"""A brute-force oracle for trends and funnels, over the generated events in memory.

Written apart from the engine: Python's zoneinfo for local times, the flags engine itself
(``devflow_sdk.flags``) for property filters, the generator's own notion of a person (``human``)
instead of ingest's persons and merges, and exhaustive search for funnels.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from devflow_sdk.flags._operators import compile_property
from devflow_sdk.flags._types import Context
from devflow_sdk.flags._values import as_text, parse_number

if TYPE_CHECKING:
    from tests.insights.factories import Event

OTHER = "$$_posthog_breakdown_other_$$"
NULL = "$$_posthog_breakdown_null_$$"
_CTX = Context({}, True, None, None)
WINDOW_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
}


def matches(e: Event, filters: list[dict[str, Any]]) -> bool:
    """Whether every filter matches the event's properties (complete data)."""
    return all(compile_property(f)(e.properties, _CTX) for f in filters)


def local_bucket(t: datetime, tz: ZoneInfo, interval: str, week_start: int) -> datetime:
    """The local start of the interval holding ``t``."""
    w = t.astimezone(tz).replace(tzinfo=None)
    if interval == "hour":
        return datetime(w.year, w.month, w.day, w.hour)
    d = datetime(w.year, w.month, w.day)
    if interval == "day":
        return d
    if interval == "month":
        return datetime(w.year, w.month, 1)
    # Sunday-based (0) or Monday-based (1) weeks; isoweekday: Monday 1 ... Sunday 7.
    back = w.isoweekday() % 7 if week_start == 0 else w.isoweekday() - 1
    return d - timedelta(days=back)


def _next(b: datetime, interval: str, n: int = 1) -> datetime:
    if interval == "hour":
        return b + timedelta(hours=n)
    if interval == "day":
        return b + timedelta(days=n)
    if interval == "week":
        return b + timedelta(days=7 * n)
    months = b.year * 12 + b.month - 1 + n
    y, m = divmod(months, 12)
    for day in (b.day, 30, 29, 28):
        try:
            return b.replace(year=y, month=m + 1, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def bucket_list(start: datetime, end: datetime, tz: ZoneInfo, interval: str, ws: int) -> list:
    """Every bucket from the range's first instant to its last."""
    out = [local_bucket(start, tz, interval, ws)]
    last = local_bucket(end - timedelta(microseconds=1), tz, interval, ws)
    while out[-1] < last:
        out.append(_next(out[-1], interval))
    return out


def day_start(d: date, tz: ZoneInfo) -> datetime:
    """The instant a local day starts."""
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def previous_range(
    start: datetime, end: datetime, tz: ZoneInfo, interval: str, ws: int
) -> tuple[datetime, datetime]:
    """The compared period: as many buckets, immediately before."""
    n = len(bucket_list(start, end, tz, interval, ws))

    def back(t: datetime) -> datetime:
        wall = t.astimezone(tz).replace(tzinfo=None)
        return _next(wall, interval, -n).replace(tzinfo=tz).astimezone(UTC)

    return back(start), back(end)


def _percentile(values: list[float], f: float) -> float:
    v = sorted(values)
    pos = f * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def aggregate(events: list[Event], math_: str, prop: str | None) -> float:
    """One bucket's value."""
    if math_ == "total":
        return float(len(events))
    if math_ in ("dau", "unique_persons"):
        return float(len({e.human for e in events}))
    assert prop is not None
    nums = [n for e in events if (n := _number(e.properties.get(prop))) is not None]
    if not nums:
        return 0.0
    if math_ == "sum":
        return math.fsum(nums)
    if math_ == "avg":
        return math.fsum(nums) / len(nums)
    if math_ == "min":
        return min(nums)
    if math_ == "max":
        return max(nums)
    return _percentile(nums, {"median": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}[math_])


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return parse_number(value)


def breakdown_value(e: Event, key: str) -> str:
    """The event's breakdown value: its property as text; missing or null is the null label."""
    if key not in e.properties or e.properties[key] is None:
        return NULL
    text = as_text(e.properties[key], "")
    return NULL if text == "null" else text


def trend_series(
    events: list[Event],
    series: dict[str, Any],
    shared: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    interval: str,
    ws: int,
    breakdown: tuple[str, int] | None,
) -> list[tuple[str | None, list[float]]]:
    """One series: (breakdown value or None, values per bucket), in PostHog's order."""
    chosen = [
        e
        for e in events
        if start <= e.timestamp < end
        and (series.get("event") is None or e.event == series["event"])
        and matches(e, shared + series.get("properties", []))
    ]
    buckets = bucket_list(start, end, tz, interval, ws)
    groups: dict[str | None, list[Event]]
    order: list[str | None]
    if breakdown is None:
        groups, order = {None: chosen}, [None]
    else:
        key, limit = breakdown
        counts = Counter(breakdown_value(e, key) for e in chosen)
        ranked = sorted(counts, key=lambda v: (-counts[v], v.encode()))
        kept = ranked[:limit]
        groups = defaultdict(list)
        for e in chosen:
            v = breakdown_value(e, key)
            groups[v if v in kept else OTHER].append(e)
        order = [*kept, *([OTHER] if len(ranked) > limit else [])]
    out = []
    math_ = series.get("math") or "total"
    for g in order:
        by_bucket: dict[datetime, list[Event]] = defaultdict(list)
        for e in groups[g]:
            by_bucket[local_bucket(e.timestamp, tz, interval, ws)].append(e)
        out.append(
            (g, [aggregate(by_bucket[b], math_, series.get("math_property")) for b in buckets])
        )
    return out


class _Num(float):
    """A float whose division by zero is 0, as formulas show it."""

    def __truediv__(self, other: float) -> _Num:  # type: ignore[override]
        return _Num(0.0 if other == 0 else float(self) / float(other))

    def __add__(self, other: float) -> _Num:  # type: ignore[override]
        return _Num(float(self) + float(other))

    def __sub__(self, other: float) -> _Num:  # type: ignore[override]
        return _Num(float(self) - float(other))

    def __mul__(self, other: float) -> _Num:  # type: ignore[override]
        return _Num(float(self) * float(other))

    __rmul__ = __mul__


def formula(text: str, values: dict[str, float]) -> float:
    """``text`` over the series' values (the test's formulas only use letters and numbers)."""
    scope = {k: _Num(v) for k, v in values.items()}
    expr = text
    for number in ("100", "2"):
        expr = expr.replace(number, f"_Num({number})")
    return float(eval(expr, {"_Num": _Num}, scope))


# --- funnels ---------------------------------------------------------------------------------


Tally = tuple[list[int], list[list[float]]]


def funnel(
    events: list[Event],
    steps: list[dict[str, Any]],
    shared: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    window_s: float,
    order: str,
    breakdown: tuple[str, int] | None = None,
) -> list[tuple[str | None, Tally]]:
    """Per breakdown value (None without one; the value on the person's starting event), the
    persons reaching each step and each step's conversion times (ordered/strict only)."""
    by_human: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if start <= e.timestamp < end:
            by_human[e.human].append(e)
    n = len(steps)
    tallies: dict[str | None, Tally] = {}
    for evs in by_human.values():
        evs.sort(key=lambda e: (e.timestamp, e.uuid))
        hits = [
            {
                k
                for k, s in enumerate(steps)
                if (s.get("event") is None or e.event == s["event"])
                and matches(e, shared + s.get("properties", []))
            }
            for e in evs
        ]
        times: list[datetime] = []
        if order == "unordered":
            best, anchor = _unordered(evs, hits, n, window_s)
        else:
            path = _best_path(evs, hits, n, window_s, strict=order == "strict")
            best, anchor = len(path), (path[0] if path else -1)
            times = [evs[i].timestamp for i in path]
        if best == 0:
            continue
        group = breakdown_value(evs[anchor], breakdown[0]) if breakdown else None
        reached, gaps = tallies.setdefault(group, ([0] * n, [[] for _ in range(n)]))
        for k in range(best):
            reached[k] += 1
            if k > 0 and times:
                gaps[k].append((times[k] - times[k - 1]).total_seconds())
    if breakdown is None:
        return [(None, tallies.get(None) or ([0] * n, [[] for _ in range(n)]))]
    ranked = sorted(tallies, key=lambda g: (-tallies[g][0][0], str(g).encode()))
    out: list[tuple[str | None, Tally]] = [(g, tallies[g]) for g in ranked[: breakdown[1]]]
    if len(ranked) > breakdown[1]:
        rest = [tallies[g] for g in ranked[breakdown[1] :]]
        out.append(
            (
                OTHER,
                (
                    [sum(t[0][k] for t in rest) for k in range(n)],
                    [[g for t in rest for g in t[1][k]] for k in range(n)],
                ),
            )
        )
    return out


def _best_path(
    evs: list[Event], hits: list[set[int]], n: int, w: float, strict: bool
) -> tuple[int, ...]:
    """The lexicographically first index tuple among the longest valid ones: every increasing
    tuple whose k-th event matches step k is tried, in order, longest length first."""

    def paths(prefix: tuple[int, ...], k: int) -> Any:
        if len(prefix) == k:
            yield prefix
            return
        step = len(prefix)
        first = prefix[-1] + 1 if prefix else 0
        last = first + 1 if strict and prefix else len(evs)
        for i in range(first, min(last, len(evs))):
            if step not in hits[i]:
                continue
            if prefix and (evs[i].timestamp - evs[prefix[0]].timestamp).total_seconds() > w:
                continue
            yield from paths((*prefix, i), k)

    for k in range(n, 0, -1):
        for path in paths((), k):
            return path
    return ()


def _unordered(evs: list[Event], hits: list[set[int]], n: int, w: float) -> tuple[int, int]:
    """The most steps covered within the window of one anchor event, and the first such anchor."""
    best, anchor = 0, -1
    for a in range(len(evs)):
        if not hits[a]:
            continue
        covered: set[int] = set()
        for j in range(a, len(evs)):
            if (evs[j].timestamp - evs[a].timestamp).total_seconds() <= w:
                covered |= hits[j]
        if len(covered) > best:
            best, anchor = len(covered), a
    return best, anchor
