"""TrendsQuery: each series' math per interval, with breakdown, compare and formula, in PostHog's
result shape (``results[]`` of ``data``, ``days``, ``labels``, ``count``, ``label`` ...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.insights import dates, validate
from services.insights.formula import BadFormula, compile_formula, letter
from services.insights.repo import events as repo
from services.insights.repo.fragments import OTHER

if TYPE_CHECKING:
    from schemas.insights import EventsNode, TrendsQuery
    from services.insights.repo import Conn
    from services.insights.repo.events import Filter

Row = dict[str, Any]
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Plan:
    """A validated trend: what to read per series, over which buckets."""

    project_id: int
    series: list[EventsNode]
    filters: list[list[Filter]]  # per series: the query's filters and its own
    interval: str
    breakdown: str | None
    limit: int
    formula: str | None
    compare: bool
    # Whether ingest's hourly rollup is exact in this deployment (it is without TimescaleDB).
    rollups: bool = False


def plan(
    project_id: int, query: TrendsQuery, *, default_limit: int, max_series: int, rollups: bool
) -> Plan:
    """Check a TrendsQuery; :class:`InvalidQuery` naming the first bad field."""
    at = "query"
    if not query.series:
        raise validate.fail(f"{at}.series", "at least one series is required")
    if len(query.series) > max_series:
        raise validate.fail(f"{at}.series", f"at most {max_series} series")
    validate.unsupported(f"{at}.aggregation_group_type_index", query.aggregation_group_type_index)
    validate.unsupported(f"{at}.samplingFactor", query.samplingFactor)
    validate.unsupported(f"{at}.conversionGoal", query.conversionGoal)
    shared = validate.filters(query.properties, f"{at}.properties")
    per_series = []
    for i, node in enumerate(query.series):
        validate.series_node(node, f"{at}.series[{i}]", math=True)
        per_series.append(
            shared + validate.filters(node.properties, f"{at}.series[{i}].properties")
        )
    key, limit = validate.breakdown(query.breakdownFilter, f"{at}.breakdownFilter", default_limit)
    compare = False
    if query.compareFilter is not None:
        validate.unsupported(f"{at}.compareFilter.compare_to", query.compareFilter.compare_to)
        compare = bool(query.compareFilter.compare)
    formula = _formula(query, f"{at}.trendsFilter")
    if formula:
        try:
            compile_formula(formula, len(query.series))
        except BadFormula as exc:
            raise validate.fail(f"{at}.trendsFilter.formula", str(exc)) from None
    return Plan(
        project_id,
        query.series,
        per_series,
        query.interval,
        key,
        limit,
        formula or None,
        compare,
        rollups,
    )


def _formula(query: TrendsQuery, at: str) -> str | None:
    """The one formula, from ``formula``, ``formulas`` or ``formulaNodes``."""
    tf = query.trendsFilter
    if tf is None:
        return None
    if tf.smoothingIntervals not in (None, 1):
        raise validate.fail(f"{at}.smoothingIntervals", "not supported yet")
    found = [tf.formula] if tf.formula else []
    found += tf.formulas or []
    found += [str(node.get("formula", "")) for node in tf.formulaNodes or []]
    if len(found) > 1:
        raise validate.fail(f"{at}.formulas", "one formula at most is supported yet")
    return found[0] if found else None


def name_of(node: EventsNode) -> str:
    """The series' name: its event, or "All events"."""
    return node.name or node.event or "All events"


def _hour_aligned(r: dates.Range, bucket_list: list[datetime]) -> bool:
    """Whether every local bucket boundary of the range is a whole UTC hour (a zone whose
    offset is whole hours throughout), so hourly counts add up to exact buckets."""
    moments = [r.start, r.end, *(dates.instant(b, r.tz) for b in bucket_list)]
    return all(
        (m.astimezone(r.tz).utcoffset() or timedelta()) % HOUR == timedelta() for m in moments
    )


def _rollup_end(p: Plan, i: int, r: dates.Range, bucket_list: list[datetime]) -> datetime | None:
    """Where the hourly rollup's exact part of the range ends (None: it can't serve)."""
    node = p.series[i]
    if not p.rollups or node.event is None or p.filters[i] or p.breakdown is not None:
        return None
    if (node.math or "total") != "total" or r.start.minute or r.start.second:
        return None
    if r.start.microsecond or not _hour_aligned(r, bucket_list):
        return None
    end = r.end.replace(minute=0, second=0, microsecond=0)
    return end if end > r.start else None


async def _series(
    conn: Conn, p: Plan, i: int, r: dates.Range, bucket_list: list[datetime], served: list[bool]
) -> list[tuple[str | None, list[float]]]:
    """One series' values per bucket: one list, or one per breakdown value (rank order)."""
    node = p.series[i]
    scope = repo.Scope(p.project_id, r.start, r.end, node.event, p.filters[i])
    kept: list[str] = []
    if p.breakdown is not None:
        kept = await repo.top_values(conn, scope, p.breakdown, p.limit + 1)
    has_other = len(kept) > p.limit
    kept = kept[: p.limit]
    trend_args: dict[str, Any] = {
        "interval": p.interval,
        "tz": r.tz.key,
        "week_shift_days": 1 if r.week_start_day == 0 else 0,
    }
    rows = []
    rolled = _rollup_end(p, i, r, bucket_list)
    if rolled is not None:
        # Whole hours from the rollup; the last partial hour (up to now) from the events.
        served.append(True)
        hours = repo.Scope(p.project_id, r.start, rolled, node.event)
        rows = await repo.trend_rollup(conn, hours, **trend_args)
        scope = repo.Scope(p.project_id, rolled, r.end, node.event)
    if scope.start < scope.end:
        rows += await repo.trend(
            conn,
            scope,
            math=node.math or "total",
            math_property=node.math_property,
            breakdown=p.breakdown,
            kept=kept,
            **trend_args,
        )
    index = {b: n for n, b in enumerate(bucket_list)}
    index = {b: n for n, b in enumerate(bucket_list)}
    groups: list[str | None] = [None] if p.breakdown is None else [*kept]
    if has_other:
        groups.append(OTHER)
    values = {g: [0.0] * len(bucket_list) for g in groups}
    for bucket, group, value in rows:
        values[group][index[bucket]] += value
    return [(g, values[g]) for g in groups]


def _row(
    node: EventsNode | None,
    order: int,
    group: str | None,
    data: list[float],
    bucket_list: list[datetime],
    interval: str,
    label: str,
) -> Row:
    row: Row = {
        "data": data,
        "count": sum(data),
        "labels": [dates.label(b, interval) for b in bucket_list],
        "days": [dates.day_text(b, interval) for b in bucket_list],
        "label": label if group is None else group,
        "action": None
        if node is None
        else {
            "id": node.event,
            "type": "events",
            "order": order,
            "name": name_of(node),
            "custom_name": node.custom_name,
            "math": node.math or "total",
            "math_property": node.math_property,
        },
    }
    if group is not None:
        row["breakdown_value"] = group
    return row


async def _period(conn: Conn, p: Plan, r: dates.Range, served: list[bool]) -> list[Row]:
    bucket_list = dates.buckets(r, p.interval)
    per_series = [await _series(conn, p, i, r, bucket_list, served) for i in range(len(p.series))]
    if p.formula is None:
        return [
            _row(p.series[i], i, g, data, bucket_list, p.interval, name_of(p.series[i]))
            for i, groups in enumerate(per_series)
            for g, data in groups
        ]
    formula = compile_formula(p.formula, len(p.series))
    order: list[str | None] = []
    for groups in per_series:
        order.extend(g for g, _ in groups if g not in order)
    out = []
    for g in order:
        found = [dict(groups) for groups in per_series]
        zeros = [0.0] * len(bucket_list)
        data = [
            formula({letter(i): found[i].get(g, zeros)[n] for i in range(len(found))})
            for n in range(len(bucket_list))
        ]
        out.append(_row(None, 0, g, data, bucket_list, p.interval, f"Formula ({p.formula})"))
    return out


async def run(conn: Conn, p: Plan, r: dates.Range) -> tuple[list[Row], bool]:
    """The results: every series (and breakdown value), then the previous period's if compared;
    and whether the hourly rollup served any of them."""
    served: list[bool] = []
    current = await _period(conn, p, r, served)
    if not p.compare:
        return current, bool(served)
    before = await _period(conn, p, dates.previous(r, p.interval), served)
    for label, rows in (("current", current), ("previous", before)):
        for row in rows:
            row["compare"] = True
            row["compare_label"] = label
    return current + before, bool(served)
