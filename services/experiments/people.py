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
WATERMARK = """
SELECT least(now(), min(xact_start)), bool_or(state IS NULL)
FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'
"""
# An incremental refresh touching more people than this (and than this share of the rows) is
# done as a full build instead, which reads the events in one pass.
REBUILD_ABOVE = 20_000
REBUILD_SHARE = 0.2
_LOCK_CLASS = 0x45585050  # "EXPP": advisory lock namespace of experiment_people refreshes


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
    mode: str  # "full", "incremental" or "none"
    recomputed: int  # people recomputed
    rows: int  # people counted after the refresh


class _State(msgspec.Struct, frozen=True):
    layout: str
    watermark: datetime
    data_until: datetime
    people: int


SELECT_STATE = """
SELECT layout, watermark, data_until, people FROM experiment_people_state
WHERE experiment_id = %s
"""
UPSERT_STATE = """
INSERT INTO experiment_people_state
    (experiment_id, layout, watermark, data_until, people, built_at, refreshed_at)
VALUES (%(id)s, %(layout)s, %(watermark)s, %(until)s, %(people)s, clock_timestamp(),
        clock_timestamp())
ON CONFLICT (experiment_id) DO UPDATE SET
    layout = EXCLUDED.layout, watermark = EXCLUDED.watermark, data_until = EXCLUDED.data_until,
    people = EXCLUDED.people, refreshed_at = EXCLUDED.refreshed_at,
    built_at = CASE WHEN %(full)s THEN EXCLUDED.built_at
               ELSE experiment_people_state.built_at END
"""
DELETE_ALL = "DELETE FROM experiment_people WHERE experiment_id = %s"
DELETE_SUMS = "DELETE FROM experiment_sums WHERE experiment_id = %s"


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
    lock = (_LOCK_CLASS << 32) | (experiment_id & 0xFFFFFFFF)
    await conn.execute("SELECT pg_advisory_xact_lock(%s::bigint)", (lock,))
    row = await (await conn.execute(SELECT_STATE, (experiment_id,))).fetchone()
    state = _State(*row) if row else None
    mark = await (await conn.execute(WATERMARK)).fetchone()
    assert mark is not None
    watermark: datetime = mark[0] - HIDDEN_OVERLAP if mark[1] else mark[0]
    merges = await metrics.has_merges(conn, p.scope.project_id)
    full = state is None or state.layout != p.fingerprint or p.scope.end < state.data_until
    lap("state")
    result = None
    if state is not None and not full:
        touched = await metrics.find_touched(
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
            deleted = await _remove_touched(conn, experiment_id, p)
            lap("remove")
            await metrics.materialize_exposures(conn, p.scope, merges=merges, touched=True)
            lap("exposures")
            inserted = await _insert(conn, experiment_id, p, merges=merges, touched=True)
            lap("values")
            result = Refresh("incremental", touched, state.people - deleted + inserted)
        else:
            result = Refresh("none", 0, state.people)
    if full:
        await conn.execute(DELETE_ALL, (experiment_id,))
        await conn.execute(DELETE_SUMS, (experiment_id,))
        lap("remove")
        await metrics.materialize_exposures(conn, p.scope, merges=merges)
        lap("exposures")
        people = await _insert(conn, experiment_id, p, merges=merges, touched=False)
        lap("values")
        result = Refresh("full", people, people)
    assert result is not None
    await conn.execute(
        UPSERT_STATE,
        {
            "id": experiment_id,
            "layout": p.fingerprint,
            "watermark": watermark,
            "until": p.scope.end,
            "people": result.rows,
            "full": full,
        },
    )
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


def _moments(p: Plan) -> str:
    """The moment vector of a group of rows: count, per column sum and sum of squares, then the
    cross products (only column numbers are interpolated)."""
    parts = ["count(*)::float8"]
    for i in range(1, len(p.columns) + 1):
        parts += [f"sum(vals[{i}])", f"sum(vals[{i}] * vals[{i}])"]
    parts += [f"sum(vals[{a + 1}] * vals[{b + 1}])" for a, b in p.products]
    return f"ARRAY[{', '.join(parts)}]"


def _add_moments(p: Plan, rows: str, experiment_id: str, sign: str) -> str:
    """SQL adding ``sign`` times the moments of ``rows`` (a CTE of people rows) per variant and
    day to ``experiment_sums``."""
    return f"""
INSERT INTO experiment_sums (experiment_id, variant, day, k, value)
SELECT {experiment_id}, g.variant, g.day, u.k - 1, {sign} * COALESCE(u.v, 0)
FROM (SELECT variant, (first_at AT TIME ZONE 'UTC')::date AS day, {_moments(p)} AS m
      FROM {rows} GROUP BY 1, 2) g
CROSS JOIN LATERAL unnest(g.m) WITH ORDINALITY AS u(v, k)
ON CONFLICT (experiment_id, variant, day, k)
DO UPDATE SET value = experiment_sums.value + EXCLUDED.value
RETURNING 1"""


async def _insert(conn: Conn, experiment_id: int, p: Plan, *, merges: bool, touched: bool) -> int:
    """Compute and insert the people's rows and add their moments; returns the rows."""
    q = metrics.Query()
    select = metrics.people_select(
        q, p.scope, p.columns, merges=merges, pre_start=p.pre_start, touched=touched
    )
    exp = q.param(experiment_id)
    sql = f"""
WITH added AS (
    INSERT INTO experiment_people (experiment_id, person_id, variant, first_at, vals)
    SELECT {exp}, s.* FROM ({select}) s
    RETURNING variant, first_at, vals
), summed AS ({_add_moments(p, "added", exp, "1.0")})
SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM summed)
"""
    row = await (await conn.execute(sql, q.params)).fetchone()
    return int(row[0]) if row else 0


async def _remove_touched(conn: Conn, experiment_id: int, p: Plan) -> int:
    """Delete the touched people's rows and subtract their moments; returns the rows."""
    sql = f"""
WITH gone AS (
    DELETE FROM experiment_people
    WHERE experiment_id = %(id)s AND person_id IN (SELECT person_id FROM touched)
    RETURNING variant, first_at, vals
), summed AS ({_add_moments(p, "gone", "%(id)s", "-1.0")})
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM summed)
"""
    row = await (await conn.execute(sql, {"id": experiment_id})).fetchone()
    return int(row[0]) if row else 0


SELECT_SUMS = """
SELECT variant, k, sum(value) FROM experiment_sums WHERE experiment_id = %s
GROUP BY variant, k ORDER BY variant, k
"""
SELECT_DAILY = """
SELECT variant, day, k, value FROM experiment_sums
WHERE experiment_id = %s AND k = ANY(%s) ORDER BY day
"""


async def variant_sums(conn: Conn, experiment_id: int, p: Plan) -> dict[str, list[float]]:
    """variant -> [n, then per column: sum, sum of squares, then per product: sum of a*b]."""
    width = 1 + 2 * len(p.columns) + len(p.products)
    out: dict[str, list[float]] = {}
    for variant, k, value in await (await conn.execute(SELECT_SUMS, (experiment_id,))).fetchall():
        out.setdefault(str(variant), [0.0] * width)[int(k)] = float(value or 0)
    return {v: row for v, row in out.items() if round(row[0]) > 0}


async def daily(
    conn: Conn, experiment_id: int, column: int | None
) -> dict[str, list[tuple[date, int, float]]]:
    """Per variant, per UTC day of first exposure: (day, people first exposed that day, the sum of
    their values of ``column``; 0 without a column)."""
    ks = [0] if column is None else [0, 1 + 2 * column]
    cells: dict[tuple[str, date], list[float]] = {}
    for variant, day, k, value in await (
        await conn.execute(SELECT_DAILY, (experiment_id, ks))
    ).fetchall():
        cells.setdefault((str(variant), day), [0.0, 0.0])[0 if k == 0 else 1] = float(value)
    out: dict[str, list[tuple[date, int, float]]] = {}
    for (variant, day), (n, total) in cells.items():
        if round(n) > 0:
            out.setdefault(variant, []).append((day, round(n), total))
    return out
