"""SQL for exposures and per-variant sufficient statistics, computed in PostgreSQL.

Exposure: the first ``$feature_flag_called`` for the flag per person in [start, end), with the
variant it reported; people seen with several variants are left out (or kept in their first).
A person is identified through merges (``person_merges``), so events stored before a merge count
for the surviving person.

The exposed people are materialised once per computation into a temporary table and analysed,
so the planner joins them knowing their number (estimated from JSON property filters it would
guess one row and pick nested loops). Then one scan of the experiment's events computes every
event metric per person at once (conditional aggregates), and PostgreSQL returns, per variant,
n, sums and sums of squares (plus CUPED covariate sums, and ratio numerator/denominator sums and
cross products) — never the people themselves. Funnels take their own, ordered query.

Each metric is a value per exposed person, over that person's events in the window after their
first exposure (never past the end); people without events count 0.
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
    """Named parameters, collected while SQL text is built."""

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


def _person(merges: bool) -> str:
    """The event's person, through merges when the project has any."""
    return "COALESCE(pm.target_person_id, e.person_id)" if merges else "e.person_id"


def _merge_join(merges: bool) -> str:
    return "LEFT JOIN person_merges pm ON pm.source_person_id = e.person_id" if merges else ""


async def has_merges(conn: Conn, project_id: int) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM person_merges WHERE project_id = %s)", (project_id,)
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def materialize_exposures(conn: Conn, scope: Scope, *, merges: bool) -> None:
    """``exposed(person_id, first_at, variant)``, dropped at the end of the transaction."""
    q = Query()
    sql = f"""
CREATE TEMPORARY TABLE exposed ON COMMIT DROP AS
WITH calls AS (
    SELECT {_person(merges)} AS person_id, e."timestamp" AS ts,
           e.properties->>'$feature_flag_response' AS variant
    FROM events e {_merge_join(merges)}
    WHERE e.project_id = {q.param(scope.project_id)} AND e.event = '$feature_flag_called'
      AND e."timestamp" >= {q.param(scope.start)} AND e."timestamp" < {q.param(scope.end)}
      AND e.properties->>'$feature_flag' = {q.param(scope.flag_key)}
      AND e.properties->>'$feature_flag_response' = ANY({q.param(scope.variants)})
      AND e.person_id IS NOT NULL
)
SELECT person_id, min(ts) AS first_at, (array_agg(variant ORDER BY ts))[1] AS variant
FROM calls GROUP BY person_id
HAVING count(DISTINCT variant) = 1 OR {q.param(scope.keep_first)}
"""
    await conn.execute(sql, q.params)
    await conn.execute("ANALYZE exposed")


async def exposure_counts(conn: Conn) -> dict[str, int]:
    cur = await conn.execute("SELECT variant, count(*) FROM exposed GROUP BY variant")
    return {str(r[0]): int(r[1]) for r in await cur.fetchall()}


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


@dataclass(frozen=True)
class Column:
    """One per-person value computed in the shared scan: a metric, or its CUPED covariate."""

    metric: MetricIn
    pre: bool = False


def _aggregate(q: Query, scope: Scope, col: Column, pre_start: datetime | None) -> str:
    m = col.metric
    conditions = [f"e.event = {q.param(m.event)}", *(_filter(q, f) for f in m.filters)]
    if col.pre:
        assert pre_start is not None
        conditions.append(
            f'e."timestamp" >= {q.param(pre_start)} AND e."timestamp" < {q.param(scope.start)}'
        )
    else:
        conditions.append('e."timestamp" >= x.first_at')
        if m.window_hours:
            conditions.append(
                f'e."timestamp" < x.first_at + {q.param(timedelta(hours=m.window_hours))}'
            )
        conditions.append(f'e."timestamp" < {q.param(scope.end)}')
    where = " AND ".join(conditions)
    if m.kind == "conversion":
        return f"max(1.0) FILTER (WHERE {where})"
    if m.kind == "count":
        return f"count(*) FILTER (WHERE {where})::float8"
    assert m.property is not None
    value = _number(f"(e.properties->>{q.param(m.property)})")
    return f"sum({value}) FILTER (WHERE {where})"


async def person_sums(
    conn: Conn,
    scope: Scope,
    columns: list[Column],
    products: list[tuple[int, int]],
    *,
    merges: bool,
    pre_start: datetime | None,
) -> dict[str, list[float]]:
    """variant -> [n, then per column: sum, sum of squares, then per product: sum of a*b]."""
    q = Query()
    aggregates = [f"{_aggregate(q, scope, c, pre_start)} AS c{i}" for i, c in enumerate(columns)]
    events = sorted({c.metric.event for c in columns if c.metric.event})
    lower = pre_start if any(c.pre for c in columns) and pre_start else scope.start
    sums = []
    for i in range(len(columns)):
        v = f"COALESCE(p.c{i}, 0)"
        sums += [f"sum({v})", f"sum({v} * {v})"]
    for a, b in products:
        sums.append(f"sum(COALESCE(p.c{a}, 0) * COALESCE(p.c{b}, 0))")
    sql = f"""
WITH per_person AS (
    SELECT x.person_id, {", ".join(aggregates)}
    FROM events e {_merge_join(merges)}
    JOIN exposed x ON x.person_id = {_person(merges)}
    WHERE e.project_id = {q.param(scope.project_id)} AND e.event = ANY({q.param(events)})
      AND e."timestamp" >= {q.param(lower)} AND e."timestamp" < {q.param(scope.end)}
    GROUP BY x.person_id
)
SELECT x.variant, count(*), {", ".join(sums)}
FROM exposed x LEFT JOIN per_person p ON p.person_id = x.person_id
GROUP BY x.variant
"""
    cur = await conn.execute(sql, q.params)
    return {str(r[0]): [float(v or 0) for v in r[1:]] for r in await cur.fetchall()}


async def funnel_stats(
    conn: Conn, scope: Scope, metric: MetricIn, *, merges: bool
) -> dict[str, tuple[float, float]]:
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
    SELECT min(e."timestamp") AS ts FROM events e {_merge_join(merges)}
    WHERE e.project_id = {q.param(scope.project_id)} AND e.event = {q.param(step)}
      AND {_person(merges)} = x.person_id
      AND e."timestamp" >= {previous} AND e."timestamp" < {limit} AND {conditions}
) s{i} ON true"""
        )
        previous = f"s{i}.ts"
    done = f"s{len(metric.steps) - 1}.ts IS NOT NULL"
    sql = (
        f"SELECT x.variant, count(*), count(*) FILTER (WHERE {done})"
        f" FROM exposed x {' '.join(laterals)} GROUP BY x.variant"
    )
    cur = await conn.execute(sql, q.params)
    return {str(r[0]): (float(r[1]), float(r[2])) for r in await cur.fetchall()}


async def daily(
    conn: Conn, scope: Scope, metric: MetricIn, *, merges: bool
) -> dict[str, list[tuple[datetime, int, float]]]:
    """Per variant, per UTC day of first exposure: (day, people exposed that day, the sum of
    their metric values). For charts of exposures and the metric over time; needs
    :func:`materialize_exposures` in the same transaction. Funnels and ratios chart their
    people only (the sum is 0)."""
    q = Query()
    simple = metric.kind not in ("funnel", "ratio")
    if simple:
        aggregate = _aggregate(q, scope, Column(metric), None)
        per_person = f"""
per_person AS (
    SELECT x.person_id, {aggregate} AS value
    FROM events e {_merge_join(merges)}
    JOIN exposed x ON x.person_id = {_person(merges)}
    WHERE e.project_id = {q.param(scope.project_id)} AND e.event = {q.param(metric.event)}
      AND e."timestamp" >= {q.param(scope.start)} AND e."timestamp" < {q.param(scope.end)}
    GROUP BY x.person_id
)"""
    else:
        per_person = "per_person AS (SELECT NULL::uuid AS person_id, 0.0::float8 AS value)"
    sql = f"""
WITH {per_person}
SELECT x.variant, date_trunc('day', x.first_at, 'UTC') AS day, count(*),
       sum(COALESCE(p.value, 0))
FROM exposed x LEFT JOIN per_person p ON p.person_id = x.person_id
GROUP BY 1, 2 ORDER BY 2
"""
    cur = await conn.execute(sql, q.params)
    out: dict[str, list[tuple[datetime, int, float]]] = {}
    for variant, day, n, total in await cur.fetchall():
        out.setdefault(str(variant), []).append((day, int(n), float(total or 0)))
    return out
