"""Point-in-time activity features, one SQL statement per batch of snapshots.

A snapshot is (distinct_id, t). Its person is resolved through person_distinct_ids_v1 and then
person_merges_v1 to the surviving person, and every event of every person merged into it
counts. Only events with ``timestamp < t`` are read, so nothing stamped after t can change a
snapshot's features (tests/churn/test_features.py checks it).
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 (msgspec reads the annotations at runtime)
from typing import TYPE_CHECKING

import msgspec
from psycopg.rows import dict_row

if TYPE_CHECKING:
    from services.churn.repo._conn import Conn


class ActivityFeatures(msgspec.Struct, frozen=True):
    """A snapshot's activity features (windows end at ``t``, exclusive)."""

    distinct_id: str
    t: datetime
    events_7d: int
    events_30d: int
    events_90d: int
    active_days_30d: int
    active_days_90d: int
    # Days from the last event before t to t; None when there is none in 90 days.
    recency_days: float | None
    # Events in the last 30 days minus those in the 30 before.
    trend_30d: int
    event_types_90d: int
    sessions_90d: int
    # "$feature_flag_called" exposures in 90 days per "flag=variant", for the batch's top flags.
    flag_exposures: dict[str, int]


# The surviving person of every merged one (merges can chain: A into B, then B into C).
# Windows are relative to each snapshot's t; the top flags are ranked over the batch's own
# windows (events before each t), so no later event can change which flags become features.
ACTIVITY = """
WITH RECURSIVE snaps AS (
    SELECT s.distinct_id, s.t, s.n
    FROM unnest(%(distinct_ids)s::text[], %(ts)s::timestamptz[]) WITH ORDINALITY
         AS s(distinct_id, t, n)
), merges AS (
    SELECT source_person_id AS person_id, target_person_id AS survivor, 1 AS depth
    FROM analytics.person_merges_v1 WHERE project_id = %(project_id)s
    UNION ALL
    SELECT m.person_id, pm.target_person_id, m.depth + 1
    FROM merges m
    JOIN analytics.person_merges_v1 pm
      ON pm.project_id = %(project_id)s AND pm.source_person_id = m.survivor
    WHERE m.depth < 32
), survivor AS (
    SELECT DISTINCT ON (person_id) person_id, survivor
    FROM merges ORDER BY person_id, depth DESC
), snap_person AS (
    SELECT s.distinct_id, s.t, COALESCE(sv.survivor, d.person_id) AS person_id
    FROM snaps s
    JOIN analytics.person_distinct_ids_v1 d
      ON d.project_id = %(project_id)s AND d.distinct_id = s.distinct_id
    LEFT JOIN survivor sv ON sv.person_id = d.person_id
), members AS (
    SELECT sp.distinct_id, sp.t, sp.person_id AS member FROM snap_person sp
    UNION
    SELECT sp.distinct_id, sp.t, sv.person_id
    FROM snap_person sp JOIN survivor sv ON sv.survivor = sp.person_id
), ev AS (
    SELECT m.distinct_id, m.t, e.event, e."timestamp" AS ts,
           e.properties ->> '$session_id' AS session_id,
           CASE WHEN e.event = '$feature_flag_called'
                THEN e.properties ->> '$feature_flag' END AS flag,
           COALESCE(e.properties ->> '$feature_flag_response', '') AS variant
    FROM members m
    JOIN analytics.events_v1 e
      ON e.project_id = %(project_id)s AND e.person_id = m.member
     AND e."timestamp" < m.t AND e."timestamp" >= m.t - interval '90 days'
), top_flags AS (
    SELECT flag FROM ev WHERE flag IS NOT NULL
    GROUP BY flag ORDER BY count(*) DESC, flag LIMIT %(top_flags)s
), exposures AS (
    SELECT ev.distinct_id, ev.t,
           jsonb_object_agg(ev.flag || '=' || ev.variant, ev.n) AS flag_exposures
    FROM (
        SELECT distinct_id, t, flag, variant, count(*) AS n
        FROM ev WHERE flag IN (SELECT flag FROM top_flags)
        GROUP BY distinct_id, t, flag, variant
    ) ev
    GROUP BY ev.distinct_id, ev.t
)
SELECT s.distinct_id, s.t,
       count(ev.ts) FILTER (WHERE ev.ts >= s.t - interval '7 days') AS events_7d,
       count(ev.ts) FILTER (WHERE ev.ts >= s.t - interval '30 days') AS events_30d,
       count(ev.ts) AS events_90d,
       count(DISTINCT ev.ts::date) FILTER (WHERE ev.ts >= s.t - interval '30 days')
           AS active_days_30d,
       count(DISTINCT ev.ts::date) AS active_days_90d,
       extract(epoch FROM s.t - max(ev.ts)) / 86400.0 AS recency_days,
       count(ev.ts) FILTER (WHERE ev.ts >= s.t - interval '30 days')
         - count(ev.ts) FILTER (WHERE ev.ts < s.t - interval '30 days'
                                  AND ev.ts >= s.t - interval '60 days') AS trend_30d,
       count(DISTINCT ev.event) AS event_types_90d,
       count(DISTINCT ev.session_id) AS sessions_90d,
       COALESCE(x.flag_exposures, '{}'::jsonb) AS flag_exposures
FROM snaps s
LEFT JOIN ev ON ev.distinct_id = s.distinct_id AND ev.t = s.t
LEFT JOIN exposures x ON x.distinct_id = s.distinct_id AND x.t = s.t
GROUP BY s.n, s.distinct_id, s.t, x.flag_exposures
ORDER BY s.n
"""


async def activity(
    conn: Conn, project_id: int, snapshots: list[tuple[str, datetime]], top_flags: int
) -> list[ActivityFeatures]:
    """Features of each (distinct_id, t) in ``snapshots``; a distinct_id never seen yields all
    zeros. In the order of ``snapshots``."""
    params = {
        "project_id": project_id,
        "distinct_ids": [d for d, _ in snapshots],
        "ts": [t for _, t in snapshots],
        "top_flags": top_flags,
    }
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ACTIVITY, params)
        rows = await cur.fetchall()
    out = []
    for r in rows:
        r["recency_days"] = None if r["recency_days"] is None else float(r["recency_days"])
        out.append(msgspec.convert(r, ActivityFeatures))
    return out
