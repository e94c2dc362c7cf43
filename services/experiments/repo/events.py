"""SQL over ingest's events, read only through its contract (``analytics.*_v1`` views).

Exposure: the first ``$feature_flag_called`` for the flag per person in [start, end), with the
variant it reported; people seen with several variants are left out (or kept in their first).
A person is identified through merges (``analytics.person_merges_v1``), so events stored before
a merge count for the surviving person.

The exposed people are materialised into a temporary table and analysed, so the planner joins
them knowing their number (estimated from JSON property filters it would guess one row and pick
nested loops). Then one scan of the experiment's events computes every metric column per person
at once (conditional aggregates; a funnel's ordered steps through ``experiment_funnel_done``).

The metric plan varies per experiment, so its statements are composed here from the fixed
fragments below: every value — project, flag key, variants, event names, property keys, filter
values, times — is a bound parameter collected by :class:`Query`; only these constant fragments
and column numbers are ever part of the SQL text.

With ``touched=True`` both steps read ``touched_events``, the events of the people in ``touched``
that :func:`find_touched` copied in one pass through the ``(project_id, distinct_id, timestamp)``
index, for an incremental refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.experiments.metrics import event_names

if TYPE_CHECKING:
    from datetime import datetime

    from schemas.experiments import PropertyFilter
    from services.experiments.metrics import Column, Scope
    from services.experiments.repo import Conn

EVENTS = "analytics.events_v1"
TOUCHED_EVENTS = "touched_events"  # a temporary table of the same columns, see find_touched
MERGE_JOIN = "LEFT JOIN analytics.person_merges_v1 pm ON pm.source_person_id = e.person_id"
PERSON = "e.person_id"
MERGED_PERSON = "COALESCE(pm.target_person_id, e.person_id)"
# A text is used as a number only when it is one (JSON properties hold anything).
_NUMBER = r"^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

HAS_MERGES = """
SELECT EXISTS (SELECT 1 FROM analytics.person_merges_v1 WHERE project_id = %s)
"""
TOUCHED = """
CREATE TEMPORARY TABLE touched ON COMMIT DROP AS
SELECT person_id FROM touched_pairs
UNION SELECT source_person_id FROM analytics.person_merges_v1
WHERE project_id = %(p)s AND merged_at >= %(s)s
UNION SELECT target_person_id FROM analytics.person_merges_v1
WHERE project_id = %(p)s AND merged_at >= %(s)s
"""
TOUCHED_IDS = """
CREATE TEMPORARY TABLE touched_ids ON COMMIT DROP AS
SELECT distinct_id FROM touched_pairs
UNION SELECT distinct_id FROM analytics.person_distinct_ids_v1
WHERE project_id = %s AND person_id IN (SELECT person_id FROM touched)
"""
# One pass over the touched people's events, shared by the exposure and the per-person
# queries, as index lookups per distinct id. Costed as a join, the planner would rather
# hash-join a sequential scan of every partition; OFFSET 0 keeps it from flattening the
# LATERAL subquery into such a join.
TOUCHED_EVENTS_COPY = """
CREATE TEMPORARY TABLE touched_events ON COMMIT DROP AS
SELECT e.* FROM touched_ids t CROSS JOIN LATERAL (
    SELECT e.project_id, e.event, e.distinct_id, e.person_id, e."timestamp", e.properties
    FROM analytics.events_v1 e
    WHERE e.project_id = %(project)s AND e.distinct_id = t.distinct_id
      AND e.event = ANY(%(names)s)
      AND e."timestamp" >= %(lower)s AND e."timestamp" < %(end)s
    OFFSET 0
) e
"""
COUNT_TOUCHED = "SELECT count(*) FROM touched"


@dataclass
class Query:
    """Named parameters, collected while SQL text is composed: the SQL gets a placeholder."""

    params: dict[str, Any] = field(default_factory=dict)

    def param(self, value: Any) -> str:
        """Bind ``value``; returns its placeholder."""
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"


def _person(merges: bool) -> str:
    """The event's person, through merges when the project has any."""
    return MERGED_PERSON if merges else PERSON


def _source(touched: bool) -> str:
    """The events to read: all of them, or the touched people's copied by :func:`find_touched`."""
    return TOUCHED_EVENTS if touched else EVENTS


def _merge_join(merges: bool) -> str:
    return MERGE_JOIN if merges else ""


async def has_merges(conn: Conn, project_id: int) -> bool:
    """Whether any person of the project was merged into another."""
    row = await (await conn.execute(HAS_MERGES, (project_id,))).fetchone()
    return bool(row and row[0])


async def materialize_exposures(
    conn: Conn, scope: Scope, *, merges: bool, touched: bool = False
) -> None:
    """``exposed(person_id, first_at, variant)``, dropped at the end of the transaction."""
    q = Query()
    only = f"AND {_person(merges)} IN (SELECT person_id FROM touched)" if touched else ""
    sql = f"""
CREATE TEMPORARY TABLE exposed ON COMMIT DROP AS
WITH calls AS (
    SELECT {_person(merges)} AS person_id, e."timestamp" AS ts,
           e.properties->>'$feature_flag_response' AS variant
    FROM {_source(touched)} e {_merge_join(merges)}
    WHERE e.project_id = {q.param(scope.project_id)} AND e.event = '$feature_flag_called'
      AND e."timestamp" >= {q.param(scope.start)} AND e."timestamp" < {q.param(scope.end)}
      AND e.properties->>'$feature_flag' = {q.param(scope.flag_key)}
      AND e.properties->>'$feature_flag_response' = ANY({q.param(scope.variants)})
      AND e.person_id IS NOT NULL {only}
)
SELECT person_id, min(ts) AS first_at, (array_agg(variant ORDER BY ts))[1] AS variant
FROM calls GROUP BY person_id
HAVING count(DISTINCT variant) = 1 OR {q.param(scope.keep_first)}
"""
    await conn.execute(sql, q.params)
    await conn.execute("ANALYZE exposed")


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
            op = _COMPARISONS[f.operator]
            return f"{_number(text)} {op} {q.param(float(values[0]))}"


def _aggregate(q: Query, scope: Scope, col: Column, pre_start: datetime | None) -> str:
    m = col.metric
    window = (
        f'e."timestamp" < x.first_at + {q.param(timedelta(hours=m.window_hours))}'
        if m.window_hours
        else "true"
    )
    if m.kind == "funnel":
        assert m.steps
        steps = q.param(m.steps)
        where = " AND ".join(
            [
                f"e.event = ANY({steps})",
                *(_filter(q, f) for f in m.filters),
                'e."timestamp" >= x.first_at',
                window,
            ]
        )
        # Simultaneous events are taken in step order, as the steps' own times would allow.
        order = f'e."timestamp", array_position({steps}, e.event)'
        return (
            f"experiment_funnel_done(array_agg(e.event ORDER BY {order}) FILTER (WHERE {where}),"
            f" {steps})"
        )
    conditions = [f"e.event = {q.param(m.event)}", *(_filter(q, f) for f in m.filters)]
    if col.pre:
        assert pre_start is not None
        conditions.append(
            f'e."timestamp" >= {q.param(pre_start)} AND e."timestamp" < {q.param(scope.start)}'
        )
    else:
        conditions += ['e."timestamp" >= x.first_at', window]
    where = " AND ".join(conditions)
    if m.kind == "conversion":
        return f"max(1.0) FILTER (WHERE {where})"
    if m.kind == "count":
        return f"count(*) FILTER (WHERE {where})::float8"
    assert m.property is not None
    value = _number(f"(e.properties->>{q.param(m.property)})")
    return f"sum({value}) FILTER (WHERE {where})"


def people_select(
    q: Query,
    scope: Scope,
    columns: list[Column],
    *,
    merges: bool,
    pre_start: datetime | None,
    touched: bool = False,
) -> str:
    """``(person_id, variant, first_at, vals)`` for everyone in ``exposed``: ``vals[i]`` is the
    person's value of ``columns[i]`` (0 without events). Needs :func:`materialize_exposures`."""
    if not columns:
        return "SELECT x.person_id, x.variant, x.first_at, '{}'::float8[] FROM exposed x"
    aggregates = [f"{_aggregate(q, scope, c, pre_start)} AS c{i}" for i, c in enumerate(columns)]
    lower = pre_start if any(c.pre for c in columns) and pre_start else scope.start
    values = ", ".join(f"COALESCE(p.c{i}, 0)" for i in range(len(columns)))
    return f"""
WITH per_person AS (
    SELECT x.person_id, {", ".join(aggregates)}
    FROM {_source(touched)} e {_merge_join(merges)}
    JOIN exposed x ON x.person_id = {_person(merges)}
    WHERE e.project_id = {q.param(scope.project_id)}
      AND e.event = ANY({q.param(event_names(columns))})
      AND e."timestamp" >= {q.param(lower)} AND e."timestamp" < {q.param(scope.end)}
    GROUP BY x.person_id
)
SELECT x.person_id, x.variant, x.first_at, ARRAY[{values}]::float8[]
FROM exposed x LEFT JOIN per_person p ON p.person_id = x.person_id
"""


async def find_touched(
    conn: Conn,
    scope: Scope,
    columns: list[Column],
    *,
    merges: bool,
    pre_start: datetime | None,
    since: datetime,
    previous_end: datetime,
) -> int:
    """Fill ``touched`` and ``touched_ids`` with the people whose values may differ from those
    computed up to ``previous_end`` with the events inserted before ``since``: people with a
    relevant event inserted since then or dated in [previous_end, end), and both sides of the
    merges made since then. Returns the number of people."""
    q = Query()
    names_list = ["$feature_flag_called", *event_names(columns)]
    lower_at = pre_start if pre_start is not None else scope.start
    names = q.param(names_list)
    project = q.param(scope.project_id)
    lower = q.param(lower_at)
    end = q.param(scope.end)
    since_p = q.param(since)
    base = f"""
    SELECT {_person(merges)} AS person_id, e.distinct_id
    FROM {EVENTS} e {_merge_join(merges)}
    WHERE e.project_id = {project} AND e.event = ANY({names}) AND e.person_id IS NOT NULL
      AND e."timestamp" >= {lower} AND e."timestamp" < {end}"""
    # Two index paths: BRIN on inserted_at for new rows, the event/time index for the newly
    # covered time range (events dated ahead of the previous end, sent with skewed clocks). The
    # planner underrates BRIN on partitions whose rows are all older than the watermark and
    # would scan them whole, so sequential scans are off for this one statement.
    await conn.execute("SET LOCAL enable_seqscan = off")
    await conn.execute(
        f"""
CREATE TEMPORARY TABLE touched_pairs ON COMMIT DROP AS
{base} AND e.inserted_at >= {since_p}
UNION
{base} AND e."timestamp" >= {q.param(previous_end)}
""",
        q.params,
    )
    await conn.execute("SET LOCAL enable_seqscan = on")
    await conn.execute(TOUCHED, {"p": scope.project_id, "s": since})
    await conn.execute(TOUCHED_IDS, (scope.project_id,))
    await conn.execute("ANALYZE touched_ids")
    params = {"project": scope.project_id, "names": names_list, "lower": lower_at}
    await conn.execute(TOUCHED_EVENTS_COPY, {**params, "end": scope.end})
    await conn.execute("ANALYZE touched")
    row = await (await conn.execute(COUNT_TOUCHED)).fetchone()
    return int(row[0]) if row else 0
