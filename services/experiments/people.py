"""Every exposed person's metric values, stored and kept current incrementally.

``experiment_people`` holds one row per person an experiment counts: variant, first exposure and
``vals``, the person's value of each column of the experiment's :class:`Plan`. Results are sums
over those rows (n, sums, sums of squares, cross products), kept per variant and day of first
exposure in ``experiment_sums``: a refresh subtracts the sums of the rows it replaces and adds
those of the new rows, so reading results never scans the people.

A refresh brings the rows up to date:

- **Full build** when there are none yet, when the plan changed (metrics, variants, start,
  exposure rule: its fingerprint differs), or when the end moved back: every exposed person.
- **Incremental** otherwise: only the people with a relevant event inserted since the last
  refresh's watermark (the start of the oldest transaction open then) or dated past the previous
  end, and people merged since. Their rows are deleted and recomputed
  from all of their events, so a person seen twice is simply computed twice: the refresh is
  idempotent.

Refreshes of one experiment are serialised by an advisory lock held to the end of the transaction.
The SQL is in ``repo.people`` (these rows) and ``repo.events`` (the events they come from).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec

from services.experiments import metrics
from services.experiments.repo import events
from services.experiments.repo import people as repo

if TYPE_CHECKING:
    from schemas.experiments import AnalysisIn, MetricIn
    from services.experiments.repo import Conn

log = logging.getLogger("devflow.experiments")
# Events are stamped with their transaction's start (inserted_at default now()), and a
# transaction still open during a refresh commits rows the refresh could not see. So the
# watermark is the start of the oldest client transaction open at the refresh
# (pg_stat_activity). Sessions of other roles show no transaction start to an unprivileged role
# (without pg_read_all_stats); when there are any, the watermark goes back HIDDEN_OVERLAP more.
HIDDEN_OVERLAP = timedelta(minutes=1)
# An incremental refresh touching more people than this (and than this share of the rows) is
# done as a full build instead, which reads the events in one pass.
REBUILD_ABOVE = 20_000
REBUILD_SHARE = 0.2


@dataclass(frozen=True)
class Sums:
    """Where a metric sits among the plan's columns: its value column, and the other column of
    its pair (the CUPED covariate, or a ratio's denominator) with their cross product."""

    value: int
    other: int | None = None
    product: int | None = None


@dataclass(frozen=True)
class Plan:
    """What to compute for an experiment, and a fingerprint of everything that defines the rows
    (all but the end, which a refresh moves forward)."""

    scope: metrics.Scope
    columns: list[metrics.Column]
    products: list[tuple[int, int]]
    layout: dict[str, Sums]
    pre_start: datetime | None
    fingerprint: str


def plan(chosen: list[MetricIn], analysis: AnalysisIn, scope: metrics.Scope) -> Plan:
    """The columns, cross products and per-metric layout for ``chosen``: a ratio takes its
    numerator and denominator, a CUPED metric its value and pre-period value, each pair with
    a product; the fingerprint hashes all that defines the rows."""
    columns: list[metrics.Column] = []
    products: list[tuple[int, int]] = []
    layout: dict[str, Sums] = {}
    cuped = analysis.cuped
    for metric in chosen:
        if metric.kind == "ratio":
            assert metric.numerator is not None
            assert metric.denominator is not None
            columns += [metrics.Column(metric.numerator), metrics.Column(metric.denominator)]
        else:
            columns.append(metrics.Column(metric))
            if cuped and metric.kind != "funnel":
                columns.append(metrics.Column(metric, pre=True))
        if metric.kind == "ratio" or (cuped and metric.kind != "funnel"):
            products.append((len(columns) - 2, len(columns) - 1))
            layout[metric.name] = Sums(len(columns) - 2, len(columns) - 1, len(products) - 1)
        else:
            layout[metric.name] = Sums(len(columns) - 1)
    pre_start = scope.start - timedelta(days=analysis.pre_period_days) if cuped else None
    defining = {
        "project": scope.project_id,
        "flag": scope.flag_key,
        "variants": scope.variants,
        "start": scope.start.isoformat(),
        "keep_first": scope.keep_first,
        "pre_start": pre_start.isoformat() if pre_start else None,
        "columns": [[msgspec.to_builtins(c.metric), c.pre] for c in columns],
    }
    fingerprint = hashlib.sha256(msgspec.json.encode(defining)).hexdigest()
    return Plan(scope, columns, products, layout, pre_start, fingerprint)


@dataclass(frozen=True)
class Refresh:
    """What a refresh did: its mode, how many people it recomputed and how many it counts."""

    mode: str  # "full", "incremental" or "none"
    recomputed: int  # people recomputed
    rows: int  # people counted after the refresh


class _Laps:
    """Milliseconds spent per phase of a refresh, for its log line."""

    def __init__(self) -> None:
        self.at = time.perf_counter()
        self.spent: dict[str, float] = {}

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.spent[phase] = self.spent.get(phase, 0.0) + (now - self.at) * 1000
        self.at = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.0f} ms" for k, v in self.spent.items())


async def refresh(conn: Conn, experiment_id: int, p: Plan) -> Refresh:
    """Bring the experiment's rows up to ``p.scope.end``; call inside a transaction."""
    lap = _Laps()
    await repo.lock(conn, experiment_id)
    state = await repo.select_state(conn, experiment_id)
    oldest, hidden = await repo.watermark(conn)
    watermark = oldest - HIDDEN_OVERLAP if hidden else oldest
    merges = await events.has_merges(conn, p.scope.project_id)
    full = state is None or state.layout != p.fingerprint or p.scope.end < state.data_until
    lap("state")
    result = None
    if state is not None and not full:
        touched = await events.find_touched(
            conn,
            p.scope,
            p.columns,
            merges=merges,
            pre_start=p.pre_start,
            since=state.watermark,
            previous_end=state.data_until,
        )
        lap("find")
        if touched > max(REBUILD_ABOVE, state.people * REBUILD_SHARE):
            full = True  # cheaper to rebuild than to recompute most people one by one
        elif touched:
            deleted = await repo.remove_touched(conn, experiment_id, len(p.columns), p.products)
            lap("remove")
            await events.materialize_exposures(conn, p.scope, merges=merges, touched=True)
            lap("exposures")
            inserted = await _insert(conn, experiment_id, p, merges=merges, touched=True)
            lap("values")
            result = Refresh("incremental", touched, state.people - deleted + inserted)
        else:
            result = Refresh("none", 0, state.people)
    if full:
        await repo.delete_all(conn, experiment_id)
        lap("remove")
        await events.materialize_exposures(conn, p.scope, merges=merges)
        lap("exposures")
        people = await _insert(conn, experiment_id, p, merges=merges, touched=False)
        lap("values")
        result = Refresh("full", people, people)
    assert result is not None
    done = repo.PeopleState(p.fingerprint, watermark, p.scope.end, result.rows)
    await repo.upsert_state(conn, experiment_id, done, full=full)
    lap("state")
    log.info(
        "experiment %s: %s refresh, %d people recomputed, %d counted (%s)",
        experiment_id,
        result.mode,
        result.recomputed,
        result.rows,
        lap,
    )
    return result


async def _insert(conn: Conn, experiment_id: int, p: Plan, *, merges: bool, touched: bool) -> int:
    return await repo.insert_people(
        conn,
        experiment_id,
        p.scope,
        p.columns,
        p.products,
        merges=merges,
        pre_start=p.pre_start,
        touched=touched,
    )


async def variant_sums(conn: Conn, experiment_id: int, p: Plan) -> dict[str, list[float]]:
    """variant -> [n, then per column: sum, sum of squares, then per product: sum of a*b]."""
    width = 1 + 2 * len(p.columns) + len(p.products)
    out: dict[str, list[float]] = {}
    for variant, k, value in await repo.select_sums(conn, experiment_id):
        out.setdefault(variant, [0.0] * width)[k] = value
    return {v: row for v, row in out.items() if round(row[0]) > 0}


async def daily(
    conn: Conn, experiment_id: int, column: int | None
) -> dict[str, list[tuple[date, int, float]]]:
    """Per variant, per UTC day of first exposure: (day, people first exposed that day, the sum of
    their values of ``column``; 0 without a column)."""
    ks = [0] if column is None else [0, 1 + 2 * column]
    cells: dict[tuple[str, date], list[float]] = {}
    for variant, day, k, value in await repo.select_daily(conn, experiment_id, ks):
        cells.setdefault((variant, day), [0.0, 0.0])[0 if k == 0 else 1] = value
    out: dict[str, list[tuple[date, int, float]]] = {}
    for (variant, day), (n, total) in cells.items():
        if round(n) > 0:
            out.setdefault(variant, []).append((day, round(n), total))
    return out
