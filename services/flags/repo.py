"""SQL of the flags service: the flag log and its projection, schedules, cohorts, traits."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING, Any

import msgspec
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    Conn = AsyncConnection[tuple[Any, ...]]


class FlagRow(msgspec.Struct, frozen=True):
    id: int
    project_id: int
    key: str
    name: str
    active: bool
    archived: bool
    filters: dict[str, Any]
    ensure_experience_continuity: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ChangeRow(msgspec.Struct, frozen=True):
    id: int
    flag_id: int
    key: str
    version: int
    kind: str
    actor: str
    reason: str
    definition: dict[str, Any]
    created_at: datetime


class ScheduleRow(msgspec.Struct, frozen=True):
    id: int
    project_id: int
    flag_id: int
    flag_key: str
    run_at: datetime
    change: dict[str, Any]
    actor: str
    reason: str
    status: str
    applied_version: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class CohortRow(msgspec.Struct, frozen=True):
    id: int
    project_id: int
    name: str
    description: str
    is_static: bool
    filters: dict[str, Any] | None
    count: int | None
    created_at: datetime
    updated_at: datetime


_FLAG_COLUMNS = (
    "id, project_id, key, name, active, archived, filters, ensure_experience_continuity,"
    " version, created_at, updated_at"
)
SELECT_FLAGS = f"""
SELECT {_FLAG_COLUMNS} FROM feature_flags
WHERE project_id = %(project_id)s AND (%(archived)s OR NOT archived)
ORDER BY id
"""
SELECT_FLAG = f"SELECT {_FLAG_COLUMNS} FROM feature_flags WHERE project_id = %s AND key = %s"
SELECT_FLAG_FOR_UPDATE = SELECT_FLAG + " FOR UPDATE"
SELECT_FLAG_BY_ID = f"SELECT {_FLAG_COLUMNS} FROM feature_flags WHERE id = %s"
NEXT_FLAG_ID = "SELECT nextval('feature_flag_ids')"
UPSERT_FLAG = f"""
INSERT INTO feature_flags ({_FLAG_COLUMNS})
VALUES (%(id)s, %(project_id)s, %(key)s, %(name)s, %(active)s, %(archived)s, %(filters)s,
        %(ensure_experience_continuity)s, %(version)s, %(created_at)s, %(updated_at)s)
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name, active = EXCLUDED.active, archived = EXCLUDED.archived,
    filters = EXCLUDED.filters,
    ensure_experience_continuity = EXCLUDED.ensure_experience_continuity,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
"""

_CHANGE_COLUMNS = "id, flag_id, key, version, kind, actor, reason, definition, created_at"
INSERT_CHANGE = f"""
INSERT INTO flag_changes (project_id, flag_id, key, version, kind, actor, reason, definition)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
RETURNING {_CHANGE_COLUMNS}
"""
SELECT_CHANGES = f"""
SELECT {_CHANGE_COLUMNS} FROM flag_changes
WHERE project_id = %s AND key = %s ORDER BY version
"""
# The definition of each flag in force at a moment: its last change at or before it.
SELECT_AS_OF = f"""
SELECT DISTINCT ON (c.flag_id) {", ".join("c." + c.strip() for c in _CHANGE_COLUMNS.split(","))},
       first.created_at AS first_at
FROM flag_changes c
JOIN LATERAL (
    SELECT created_at FROM flag_changes f WHERE f.flag_id = c.flag_id AND f.version = 1
) first ON true
WHERE c.project_id = %(project_id)s AND c.created_at <= %(as_of)s
  AND (%(key)s::text IS NULL OR c.key = %(key)s)
ORDER BY c.flag_id, c.version DESC
"""
# The projection recomputed from the log alone (`devflow rebuild flags`).
SELECT_REBUILT = """
SELECT DISTINCT ON (c.flag_id) c.flag_id, c.project_id, c.key, c.definition, c.version,
       first.created_at, c.created_at
FROM flag_changes c
JOIN LATERAL (
    SELECT created_at FROM flag_changes f WHERE f.flag_id = c.flag_id AND f.version = 1
) first ON true
WHERE %(project_id)s::bigint IS NULL OR c.project_id = %(project_id)s
ORDER BY c.flag_id, c.version DESC
"""
DELETE_PROJECTION = """
DELETE FROM feature_flags WHERE %(project_id)s::bigint IS NULL OR project_id = %(project_id)s
"""

BUMP_REVISION = """
INSERT INTO flag_revisions (project_id, revision) VALUES (%s, 1)
ON CONFLICT (project_id) DO UPDATE
SET revision = flag_revisions.revision + 1, updated_at = clock_timestamp()
RETURNING revision
"""
SELECT_REVISION = "SELECT revision FROM flag_revisions WHERE project_id = %s"

INSERT_OUTBOX = (
    "INSERT INTO flag_outbox (change_id, project_id, subject, payload) VALUES (%s, %s, %s, %s)"
)
DELETE_OUTBOX = "DELETE FROM flag_outbox WHERE change_id = %s"
SELECT_OUTBOX = """
SELECT change_id, subject, payload FROM flag_outbox
WHERE created_at < clock_timestamp() - make_interval(secs => %s)
ORDER BY change_id LIMIT 100 FOR UPDATE SKIP LOCKED
"""

_SCHEDULE_COLUMNS = (
    "s.id, s.project_id, s.flag_id, f.key, s.run_at, s.change, s.actor, s.reason, s.status,"
    " s.applied_version, s.error, s.created_at, s.finished_at"
)
INSERT_SCHEDULE = """
INSERT INTO flag_schedules (project_id, flag_id, run_at, change, actor, reason)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING id
"""
SELECT_SCHEDULE = f"""
SELECT {_SCHEDULE_COLUMNS} FROM flag_schedules s JOIN feature_flags f ON f.id = s.flag_id
WHERE s.id = %s
"""
SELECT_SCHEDULE_FOR_UPDATE = SELECT_SCHEDULE + " FOR UPDATE OF s"
SELECT_SCHEDULES = f"""
SELECT {_SCHEDULE_COLUMNS} FROM flag_schedules s JOIN feature_flags f ON f.id = s.flag_id
WHERE s.project_id = %s AND s.flag_id = %s ORDER BY s.run_at, s.id
"""
SELECT_DUE_SCHEDULES = """
SELECT id FROM flag_schedules
WHERE status = 'pending' AND run_at <= clock_timestamp() - make_interval(secs => %s)
ORDER BY run_at LIMIT 100
"""
FINISH_SCHEDULE = """
UPDATE flag_schedules SET status = %s, applied_version = %s, error = %s,
    finished_at = clock_timestamp()
WHERE id = %s
"""

_COHORT_COLUMNS = """
c.id, c.project_id, c.name, c.description, c.is_static, c.filters,
CASE WHEN c.is_static
     THEN (SELECT count(*) FROM cohort_members m WHERE m.cohort_id = c.id) END,
c.created_at, c.updated_at
"""
INSERT_COHORT = """
INSERT INTO cohorts (project_id, name, description, is_static, filters)
VALUES (%s, %s, %s, %s, %s) RETURNING id
"""
UPDATE_COHORT = """
UPDATE cohorts SET name = %s, description = %s, filters = %s, updated_at = clock_timestamp()
WHERE id = %s
"""
DELETE_COHORT = "UPDATE cohorts SET deleted = true, updated_at = clock_timestamp() WHERE id = %s"
SELECT_COHORT = f"""
SELECT {_COHORT_COLUMNS} FROM cohorts c
WHERE c.project_id = %s AND c.id = %s AND NOT c.deleted
"""
SELECT_COHORTS = f"""
SELECT {_COHORT_COLUMNS} FROM cohorts c WHERE c.project_id = %s AND NOT c.deleted ORDER BY c.id
"""
SELECT_COHORT_DEFINITIONS = """
SELECT id, is_static, filters FROM cohorts WHERE project_id = %s AND NOT deleted
"""
DELETE_MEMBERS = "DELETE FROM cohort_members WHERE cohort_id = %s"
INSERT_MEMBERS = """
INSERT INTO cohort_members (project_id, cohort_id, distinct_id)
SELECT %s, %s, unnest(%s::text[]) ON CONFLICT DO NOTHING
"""

UPSERT_GROUP_TYPE = """
INSERT INTO group_type_mapping (project_id, group_type_index, group_type) VALUES (%s, %s, %s)
ON CONFLICT (project_id, group_type_index) DO UPDATE SET group_type = EXCLUDED.group_type
"""
SELECT_GROUP_TYPES = """
SELECT group_type_index, group_type FROM group_type_mapping
WHERE project_id = %s ORDER BY group_type_index
"""

# Everything one evaluation needs about its subject, in one round trip: the person's properties
# and the traits other services published, plus (only when they can matter, so the common query
# stays small) the static cohorts any of the person's distinct ids belong to and the requested
# groups' properties and traits.
_SUBJECT_PERSON = """
SELECT p.id, p.properties FROM person_distinct_ids d JOIN persons p ON p.id = d.person_id
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
            SELECT d.distinct_id FROM person_distinct_ids d
            WHERE d.person_id = (SELECT id FROM person)
        ))
)
"""
_SUBJECT_GROUPS = """
(SELECT jsonb_object_agg(g.group_type, g.properties) FROM groups g
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


def _subject_query(person: bool, cohorts: bool, groups: bool) -> str:
    cohorts = person and cohorts
    return (
        f"WITH person AS ({_SUBJECT_PERSON}){_REQUESTED if groups else ''}\n"
        f"SELECT {'(SELECT properties FROM person)' if person else 'NULL'},"
        f" {_SUBJECT_TRAITS if person else 'NULL'},"
        f" {_SUBJECT_COHORTS if cohorts else 'NULL'},"
        f" {_SUBJECT_GROUPS if groups else 'NULL, NULL'}"
    )


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


# --- flags ---------------------------------------------------------------------------------------


async def select_flags(conn: Conn, project_id: int, *, archived: bool) -> list[FlagRow]:
    cur = await conn.execute(SELECT_FLAGS, {"project_id": project_id, "archived": archived})
    return [FlagRow(*r) for r in await cur.fetchall()]


async def select_flag(
    conn: Conn, project_id: int, key: str, *, for_update: bool = False
) -> FlagRow | None:
    query = SELECT_FLAG_FOR_UPDATE if for_update else SELECT_FLAG
    row = await (await conn.execute(query, (project_id, key))).fetchone()
    return FlagRow(*row) if row else None


async def select_flag_by_id(conn: Conn, flag_id: int) -> FlagRow | None:
    row = await (await conn.execute(SELECT_FLAG_BY_ID, (flag_id,))).fetchone()
    return FlagRow(*row) if row else None


async def next_flag_id(conn: Conn) -> int:
    row = await (await conn.execute(NEXT_FLAG_ID)).fetchone()
    assert row is not None
    return int(row[0])


async def upsert_flag(conn: Conn, flag: FlagRow) -> None:
    values = msgspec.structs.asdict(flag)
    values["filters"] = Jsonb(flag.filters)
    await conn.execute(UPSERT_FLAG, values)


async def insert_change(
    conn: Conn,
    project_id: int,
    flag_id: int,
    key: str,
    version: int,
    kind: str,
    actor: str,
    reason: str,
    definition: dict[str, Any],
) -> ChangeRow:
    cur = await conn.execute(
        INSERT_CHANGE,
        (project_id, flag_id, key, version, kind, actor, reason, Jsonb(definition)),
    )
    row = await cur.fetchone()
    assert row is not None
    return ChangeRow(*row)


async def select_changes(conn: Conn, project_id: int, key: str) -> list[ChangeRow]:
    cur = await conn.execute(SELECT_CHANGES, (project_id, key))
    return [ChangeRow(*r) for r in await cur.fetchall()]


async def select_as_of(
    conn: Conn, project_id: int, as_of: datetime, key: str | None = None
) -> list[tuple[ChangeRow, datetime]]:
    cur = await conn.execute(SELECT_AS_OF, {"project_id": project_id, "as_of": as_of, "key": key})
    return [(ChangeRow(*r[:9]), r[9]) for r in await cur.fetchall()]


async def select_rebuilt(conn: Conn, project_id: int | None) -> list[FlagRow]:
    cur = await conn.execute(SELECT_REBUILT, {"project_id": project_id})
    rows = []
    for flag_id, pid, key, d, version, created_at, updated_at in await cur.fetchall():
        rows.append(
            FlagRow(
                id=flag_id,
                project_id=pid,
                key=key,
                name=d.get("name", ""),
                active=bool(d.get("active")),
                archived=bool(d.get("archived")),
                filters=d.get("filters") or {},
                ensure_experience_continuity=bool(d.get("ensure_experience_continuity")),
                version=version,
                created_at=created_at,
                updated_at=updated_at,
            )
        )
    return rows


async def delete_projection(conn: Conn, project_id: int | None) -> None:
    await conn.execute(DELETE_PROJECTION, {"project_id": project_id})


# --- revisions and the outbox --------------------------------------------------------------------


async def bump_revision(conn: Conn, project_id: int) -> int:
    """Move the project's revision; the row lock also serialises the project's flag writes."""
    row = await (await conn.execute(BUMP_REVISION, (project_id,))).fetchone()
    assert row is not None
    return int(row[0])


async def select_revision(conn: Conn, project_id: int) -> int:
    row = await (await conn.execute(SELECT_REVISION, (project_id,))).fetchone()
    return int(row[0]) if row else 0


async def insert_outbox(
    conn: Conn, change_id: int, project_id: int, subject: str, payload: bytes
) -> None:
    await conn.execute(INSERT_OUTBOX, (change_id, project_id, subject, payload))


async def delete_outbox(conn: Conn, change_id: int) -> None:
    await conn.execute(DELETE_OUTBOX, (change_id,))


async def select_outbox(conn: Conn, older_than_s: float) -> list[tuple[int, str, bytes]]:
    cur = await conn.execute(SELECT_OUTBOX, (older_than_s,))
    return [(int(r[0]), str(r[1]), bytes(r[2])) for r in await cur.fetchall()]


# --- schedules -----------------------------------------------------------------------------------


async def insert_schedule(
    conn: Conn,
    project_id: int,
    flag_id: int,
    run_at: datetime,
    change: dict[str, Any],
    actor: str,
    reason: str,
) -> int:
    cur = await conn.execute(
        INSERT_SCHEDULE, (project_id, flag_id, run_at, Jsonb(change), actor, reason)
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def select_schedule(
    conn: Conn, schedule_id: int, *, for_update: bool = False
) -> ScheduleRow | None:
    query = SELECT_SCHEDULE_FOR_UPDATE if for_update else SELECT_SCHEDULE
    row = await (await conn.execute(query, (schedule_id,))).fetchone()
    return ScheduleRow(*row) if row else None


async def select_schedules(conn: Conn, project_id: int, flag_id: int) -> list[ScheduleRow]:
    cur = await conn.execute(SELECT_SCHEDULES, (project_id, flag_id))
    return [ScheduleRow(*r) for r in await cur.fetchall()]


async def select_due_schedules(conn: Conn, overdue_s: float) -> list[int]:
    cur = await conn.execute(SELECT_DUE_SCHEDULES, (overdue_s,))
    return [int(r[0]) for r in await cur.fetchall()]


async def finish_schedule(
    conn: Conn, schedule_id: int, status: str, version: int | None, error: str | None
) -> None:
    await conn.execute(FINISH_SCHEDULE, (status, version, error, schedule_id))


# --- cohorts and group types ---------------------------------------------------------------------


async def insert_cohort(
    conn: Conn,
    project_id: int,
    name: str,
    description: str,
    is_static: bool,
    filters: dict[str, Any] | None,
) -> int:
    cur = await conn.execute(
        INSERT_COHORT,
        (project_id, name, description, is_static, Jsonb(filters) if filters else None),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def update_cohort(
    conn: Conn, cohort_id: int, name: str, description: str, filters: dict[str, Any] | None
) -> None:
    await conn.execute(
        UPDATE_COHORT, (name, description, Jsonb(filters) if filters else None, cohort_id)
    )


async def delete_cohort(conn: Conn, cohort_id: int) -> None:
    await conn.execute(DELETE_COHORT, (cohort_id,))


async def select_cohort(conn: Conn, project_id: int, cohort_id: int) -> CohortRow | None:
    row = await (await conn.execute(SELECT_COHORT, (project_id, cohort_id))).fetchone()
    return CohortRow(*row) if row else None


async def select_cohorts(conn: Conn, project_id: int) -> list[CohortRow]:
    cur = await conn.execute(SELECT_COHORTS, (project_id,))
    return [CohortRow(*r) for r in await cur.fetchall()]


async def select_cohort_definitions(
    conn: Conn, project_id: int
) -> list[tuple[int, bool, dict[str, Any] | None]]:
    cur = await conn.execute(SELECT_COHORT_DEFINITIONS, (project_id,))
    return [(int(r[0]), bool(r[1]), r[2]) for r in await cur.fetchall()]


async def replace_members(
    conn: Conn, project_id: int, cohort_id: int, distinct_ids: list[str]
) -> None:
    await conn.execute(DELETE_MEMBERS, (cohort_id,))
    await conn.execute(INSERT_MEMBERS, (project_id, cohort_id, distinct_ids))


async def add_members(conn: Conn, project_id: int, cohort_id: int, distinct_ids: list[str]) -> None:
    await conn.execute(INSERT_MEMBERS, (project_id, cohort_id, distinct_ids))


async def upsert_group_type(conn: Conn, project_id: int, index: int, group_type: str) -> None:
    await conn.execute(UPSERT_GROUP_TYPE, (project_id, index, group_type))


async def select_group_types(conn: Conn, project_id: int) -> dict[str, str]:
    cur = await conn.execute(SELECT_GROUP_TYPES, (project_id,))
    return {str(r[0]): str(r[1]) for r in await cur.fetchall()}


# --- evaluation subjects and traits --------------------------------------------------------------


class Subject(msgspec.Struct, frozen=True):
    person_properties: dict[str, Any] | None
    static_cohorts: list[str]
    person_traits: dict[str, Any] | None
    group_properties: dict[str, dict[str, Any]] | None
    group_traits: dict[str, dict[str, Any]] | None


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
    """The subject's plan and the rest of its billing state (flag properties by name)."""
    await conn.execute(
        UPSERT_PLAN,
        (project_id, kind, group_type, subject_key, plan, at, Jsonb(billing) if billing else None),
    )


async def upsert_churn(
    conn: Conn, project_id: int, distinct_id: str, score: float, at: datetime
) -> None:
    await conn.execute(UPSERT_CHURN, (project_id, distinct_id, score, at))
