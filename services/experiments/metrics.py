"""SQL for exposures and per-variant sufficient statistics, computed in PostgreSQL.

Exposure: the first ``$feature_flag_called`` for the flag per person in [start, end), with the
variant it reported; people seen with several variants are left out (or kept in their first).
A person is identified through merges (``person_merges``), so events stored before a merge count
for the surviving person.

Each metric is a value per exposed person, over that person's events in the window after their
first exposure (never past the end); people without events have 0. PostgreSQL returns, per
variant, n, the sum and the sum of squares (plus the pre-period covariate sums for CUPED, and
numerator/denominator sums and cross product for ratios) — never the people themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.experiments import MetricIn, PropertyFilter
    from services.experiments.repo import Conn

_NUMBER = r"^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


@dataclass
class Query:
    """SQL text and its named parameters, built up piece by piece."""

    params: dict[str, Any] = field(default_factory=dict)

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"


@dataclass(frozen=True)
class Scope:
    project_id: int
    flag_key: str
    variants: list[str]
    start: datetime
    end: datetime
    keep_first: bool


def _exposed(q: Query, scope: Scope) -> str:
    return f"""
calls AS (
    SELECT COALESCE(pm.target_person_id, e.person_id) AS person_id, e."timestamp" AS ts,
           e.properties->>'$feature_flag_response' AS variant
    FROM events e LEFT JOIN person_merges pm ON pm.source_person_id = e.person_id
    WHERE e.project_id = {q.param(scope.project_id)} AND e.event = '$feature_flag_called'
      AND e."timestamp" >= {q.param(scope.start)} AND e."timestamp" < {q.param(scope.end)}
      AND e.properties->>'$feature_flag' = {q.param(scope.flag_key)}
      AND e.properties->>'$feature_flag_response' = ANY({q.param(scope.variants)})
      AND e.person_id IS NOT NULL
), firsts AS (
    SELECT person_id, min(ts) AS first_at, (array_agg(variant ORDER BY ts))[1] AS variant,
           count(DISTINCT variant) AS seen
    FROM calls GROUP BY person_id
), exposed AS (
    SELECT person_id, first_at, variant FROM firsts
    WHERE seen = 1 OR {q.param(scope.keep_first)}
)"""


def _number(expr: str) -> str:
    return f"CASE WHEN {expr} ~ '{_NUMBER}' THEN ({expr})::float8 END"


def _filter(q: Query, f: PropertyFilter) -> str:
    text = f"(e.properties->>{q.param(f.key)})"
    values = f.value if isinstance(f.value, list) else [f.value]
    strings = [str(v).lower() for v in values if v is not None]
    match f.operator:
        case "exact":
            return f"lower({text}) = ANY({q.param(strings)})"
        case "is_not":
            return f"({text} IS NULL OR NOT lower({text}) = ANY({q.param(strings)}))"
        case "icontains":
            return f"strpos(lower({text}), {q.param(strings[0] if strings else '')}) > 0"
        case "not_icontains":
            needle = q.param(strings[0] if strings else "")
            return f"({text} IS NULL OR strpos(lower({text}), {needle}) = 0)"
        case "is_set":
            return f"e.properties ? {q.param(f.key)}"
        case "is_not_set":
            return f"NOT e.properties ? {q.param(f.key)}"
        case _:
            op = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.operator]
            return f"{_number(text)} {op} {q.param(float(values[0]))}"


def _value(q: Query, metric: MetricIn) -> str:
    """The per-person aggregate of the metric's matching events."""
    if metric.kind == "conversion":
        return "1.0"
    if metric.kind == "count":
        return "count(*)::float8"
    assert metric.property is not None
    return f"COALESCE(sum({_number(f'(e.properties->>{q.param(metric.property)})')}), 0)"


def _per_person(q: Query, scope: Scope, metric: MetricIn, name: str, pre: timedelta | None) -> str:
    """A CTE ``name(person_id, value)`` for people with at least one matching event.

    With ``pre``, the window is the pre-period [start - pre, start) instead (CUPED's covariate).
    """
    conditions = [_filter(q, f) for f in metric.filters]
    if pre is None:
        window = (
            f'e."timestamp" >= x.first_at AND e."timestamp" < LEAST('
            f"x.first_at + {q.param(timedelta(hours=metric.window_hours))}, {q.param(scope.end)})"
            if metric.window_hours
            else f'e."timestamp" >= x.first_at AND e."timestamp" < {q.param(scope.end)}'
        )
        bounds = f'e."timestamp" >= {q.param(scope.start)} AND e."timestamp" < {q.param(scope.end)}'
    else:
        window = "true"
        bounds = (
            f'e."timestamp" >= {q.param(scope.start - pre)}'
            f' AND e."timestamp" < {q.param(scope.start)}'
        )
    where = " AND ".join([window, bounds, *conditions])
    return f"""
{name} AS (
    SELECT x.person_id, {_value(q, metric)} AS value
    FROM events e
    LEFT JOIN person_merges pm ON pm.source_person_id = e.person_id
    JOIN exposed x ON x.person_id = COALESCE(pm.target_person_id, e.person_id)
    WHERE e.project_id = {q.param(scope.project_id)} AND e.event = {q.param(metric.event)}
      AND {where}
    GROUP BY x.person_id
)"""


async def mean_stats(
    conn: Conn, scope: Scope, metric: MetricIn, *, pre: timedelta | None = None
) -> dict[str, tuple[float, ...]]:
    """variant -> (n, sum, sum_squares[, pre_sum, pre_sum_squares, sum_product])."""
    q = Query()
    ctes = [_exposed(q, scope), _per_person(q, scope, metric, "metric", None)]
    value = "COALESCE(m.value, 0)"
    columns = f"count(*), sum({value}), sum({value} * {value})"
    joins = "LEFT JOIN metric m ON m.person_id = x.person_id"
    if pre is not None:
        ctes.append(_per_person(q, scope, metric, "pre", pre))
        covariate = "COALESCE(p.value, 0)"
        columns += f", sum({covariate}), sum({covariate} * {covariate}), sum({value} * {covariate})"
        joins += " LEFT JOIN pre p ON p.person_id = x.person_id"
    sql = (
        f"WITH {','.join(ctes)}\nSELECT x.variant, {columns} FROM exposed x {joins}"
        " GROUP BY x.variant"
    )
    cur = await conn.execute(sql, q.params)
    return {str(r[0]): tuple(float(v or 0) for v in r[1:]) for r in await cur.fetchall()}


async def ratio_stats(
    conn: Conn, scope: Scope, numerator: MetricIn, denominator: MetricIn
) -> dict[str, tuple[float, ...]]:
    """variant -> (n, m_sum, m_sum_squares, d_sum, d_sum_squares, m_d_sum_product)."""
    q = Query()
    ctes = [
        _exposed(q, scope),
        _per_person(q, scope, numerator, "num", None),
        _per_person(q, scope, denominator, "den", None),
    ]
    m, d = "COALESCE(n.value, 0)", "COALESCE(d.value, 0)"
    sql = (
        f"WITH {','.join(ctes)}\nSELECT x.variant, count(*), sum({m}), sum({m} * {m}),"
        f" sum({d}), sum({d} * {d}), sum({m} * {d}) FROM exposed x"
        " LEFT JOIN num n ON n.person_id = x.person_id"
        " LEFT JOIN den d ON d.person_id = x.person_id GROUP BY x.variant"
    )
    cur = await conn.execute(sql, q.params)
    return {str(r[0]): tuple(float(v or 0) for v in r[1:]) for r in await cur.fetchall()}


async def funnel_stats(conn: Conn, scope: Scope, metric: MetricIn) -> dict[str, tuple[float, ...]]:
    """variant -> (n, people who completed every step in order within the window)."""
    assert metric.steps
    q = Query()
    limit = (
        f"LEAST(x.first_at + {q.param(timedelta(hours=metric.window_hours))}, {q.param(scope.end)})"
        if metric.window_hours
        else q.param(scope.end)
    )
    previous = "x.first_at"
    laterals = []
    for i, step in enumerate(metric.steps):
        conditions = " AND ".join([_filter(q, f) for f in metric.filters] or ["true"])
        laterals.append(
            f"""LEFT JOIN LATERAL (
    SELECT min(e."timestamp") AS ts FROM events e
    LEFT JOIN person_merges pm ON pm.source_person_id = e.person_id
    WHERE e.project_id = {q.param(scope.project_id)} AND e.event = {q.param(step)}
      AND COALESCE(pm.target_person_id, e.person_id) = x.person_id
      AND e."timestamp" >= {previous} AND e."timestamp" < {limit} AND {conditions}
) s{i} ON true"""
        )
        previous = f"s{i}.ts"
    done = f"s{len(metric.steps) - 1}.ts IS NOT NULL"
    sql = (
        f"WITH {_exposed(q, scope)}\nSELECT x.variant, count(*),"
        f" count(*) FILTER (WHERE {done}) FROM exposed x {' '.join(laterals)} GROUP BY x.variant"
    )
    cur = await conn.execute(sql, q.params)
    return {str(r[0]): (float(r[1]), float(r[2])) for r in await cur.fetchall()}


async def exposure_counts(conn: Conn, scope: Scope) -> dict[str, int]:
    q = Query()
    sql = f"WITH {_exposed(q, scope)}\nSELECT variant, count(*) FROM exposed GROUP BY variant"
    cur = await conn.execute(sql, q.params)
    return {str(r[0]): int(r[1]) for r in await cur.fetchall()}
