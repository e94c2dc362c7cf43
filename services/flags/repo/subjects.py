"""SQL of what an evaluation knows about its subject: the person and groups (read through ingest's
read contract, ``analytics.*_v1``), static cohort membership, and the traits other services
published (``flag_traits``)."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING, Any

import msgspec
from psycopg import sql
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from services.flags.repo._conn import Conn


class Subject(msgspec.Struct, frozen=True):
    """What an evaluation knows about its person and groups: properties, traits, cohorts."""

    person_properties: dict[str, Any] | None
    static_cohorts: list[str]
    person_traits: dict[str, Any] | None
    group_properties: dict[str, dict[str, Any]] | None
    group_traits: dict[str, dict[str, Any]] | None


# Everything one evaluation needs about its subject, in one round trip: the person's properties
# and the traits other services published, plus (only when they can matter, so the common query
# stays small) the static cohorts any of the person's distinct ids belong to and the requested
# groups' properties and traits.
_SUBJECT_PERSON = """
SELECT p.id, p.properties
FROM analytics.person_distinct_ids_v1 d JOIN analytics.persons_v1 p ON p.id = d.person_id
WHERE d.project_id = %(project_id)s AND d.distinct_id = %(distinct_id)s
"""
_SUBJECT_TRAITS = """
(SELECT jsonb_build_object('plan', t.plan, 'churn_risk', t.churn_risk, 'billing', t.billing)
 FROM flag_traits t
 WHERE t.project_id = %(project_id)s AND t.subject_kind = 'person' AND t.group_type = ''
   AND t.subject_key = %(distinct_id)s)
"""
_SUBJECT_COHORTS = """
ARRAY(
    SELECT DISTINCT m.cohort_id::text FROM cohort_members m
    WHERE m.project_id = %(project_id)s AND (
        m.distinct_id = %(distinct_id)s OR m.distinct_id IN (
            SELECT d.distinct_id FROM analytics.person_distinct_ids_v1 d
            WHERE d.person_id = (SELECT id FROM person)
        ))
)
"""
_SUBJECT_GROUPS = """
(SELECT jsonb_object_agg(g.group_type, g.properties) FROM analytics.groups_v1 g
 JOIN requested r ON g.group_type = r.gtype AND g.group_key = r.gkey
 WHERE g.project_id = %(project_id)s),
(SELECT jsonb_object_agg(t.group_type,
                         jsonb_build_object('plan', t.plan, 'churn_risk', t.churn_risk,
                                            'billing', t.billing))
 FROM flag_traits t JOIN requested r ON t.group_type = r.gtype AND t.subject_key = r.gkey
 WHERE t.project_id = %(project_id)s AND t.subject_kind = 'group')
"""
_REQUESTED = """
, requested AS (
    SELECT * FROM unnest(%(group_types)s::text[], %(group_keys)s::text[]) AS r (gtype, gkey)
)
"""
_SUBJECT = """WITH person AS ({person}){requested}
SELECT {properties}, {traits}, {cohorts}, {groups}"""


def _subject_query(person: bool, cohorts: bool, groups: bool) -> str:
    """The subject query with only the parts that can matter (all parts are constants)."""
    null = sql.SQL("NULL")
    query = sql.SQL(_SUBJECT).format(
        person=sql.SQL(_SUBJECT_PERSON),
        requested=sql.SQL(_REQUESTED if groups else ""),
        properties=sql.SQL("(SELECT properties FROM person)") if person else null,
        traits=sql.SQL(_SUBJECT_TRAITS) if person else null,
        cohorts=sql.SQL(_SUBJECT_COHORTS) if person and cohorts else null,
        groups=sql.SQL(_SUBJECT_GROUPS) if groups else sql.SQL("NULL, NULL"),
    )
    # Composed once here: no connection's encoding is needed for constant SQL.
    return query.as_string(None)


_FLAGS = (False, True)
SELECT_SUBJECT = {
    (p, c, g): _subject_query(p, c, g) for p in _FLAGS for c in _FLAGS for g in _FLAGS
}

# Newer facts win; a redelivered or late message never rolls a trait back.
UPSERT_PLAN = """
INSERT INTO flag_traits
    (project_id, subject_kind, group_type, subject_key, plan, plan_at, billing)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project_id, subject_kind, group_type, subject_key) DO UPDATE
SET plan = EXCLUDED.plan, plan_at = EXCLUDED.plan_at, billing = EXCLUDED.billing
WHERE flag_traits.plan_at IS NULL OR flag_traits.plan_at <= EXCLUDED.plan_at
"""
UPSERT_CHURN = """
INSERT INTO flag_traits (project_id, subject_kind, group_type, subject_key, churn_risk, churn_at)
VALUES (%s, 'person', '', %s, %s, %s)
ON CONFLICT (project_id, subject_kind, group_type, subject_key) DO UPDATE
SET churn_risk = EXCLUDED.churn_risk, churn_at = EXCLUDED.churn_at
WHERE flag_traits.churn_at IS NULL OR flag_traits.churn_at <= EXCLUDED.churn_at
"""


async def select_subject(
    conn: Conn,
    project_id: int,
    distinct_id: str,
    groups: dict[str, str],
    *,
    static_cohorts: bool,
    person: bool = True,
) -> Subject:
    """The subject's stored data: the person's unless not ``person`` (cohort membership only
    when ``static_cohorts``), and the ``groups``'."""
    params = {
        "project_id": project_id,
        "distinct_id": distinct_id,
        "group_types": list(groups),
        "group_keys": list(groups.values()),
    }
    query = SELECT_SUBJECT[person, static_cohorts, bool(groups)]
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return Subject(row[0], list(row[2] or []), row[1], row[3], row[4])


async def upsert_plan(
    conn: Conn,
    project_id: int,
    kind: str,
    group_type: str,
    subject_key: str,
    plan: str | None,
    at: datetime,
    billing: dict[str, Any] | None = None,
) -> None:
    """Record a subject's plan, and the rest of its billing state (flag properties by name),
    as of ``at`` unless a newer one is stored."""
    await conn.execute(
        UPSERT_PLAN,
        (project_id, kind, group_type, subject_key, plan, at, Jsonb(billing) if billing else None),
    )


async def upsert_churn(
    conn: Conn, project_id: int, distinct_id: str, score: float, at: datetime
) -> None:
    """Record a person's churn risk as of ``at`` unless a newer one is stored."""
    await conn.execute(UPSERT_CHURN, (project_id, distinct_id, score, at))
