"""SQL of cohorts (``cohorts``, ``cohort_members``) and of the project's group types."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING, Any

import msgspec
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from services.flags.repo._conn import Conn


class CohortRow(msgspec.Struct, frozen=True):
    """A cohort; ``count`` is the member count of a static cohort, None for a dynamic one."""

    id: int
    project_id: int
    name: str
    description: str
    is_static: bool
    filters: dict[str, Any] | None
    count: int | None
    created_at: datetime
    updated_at: datetime


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


def _jsonb(filters: dict[str, Any] | None) -> Jsonb | None:
    return Jsonb(filters) if filters else None


async def insert_cohort(
    conn: Conn,
    project_id: int,
    name: str,
    description: str,
    is_static: bool,
    filters: dict[str, Any] | None,
) -> int:
    """Store a new cohort; return its id."""
    cur = await conn.execute(
        INSERT_COHORT, (project_id, name, description, is_static, _jsonb(filters))
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def update_cohort(
    conn: Conn, cohort_id: int, name: str, description: str, filters: dict[str, Any] | None
) -> None:
    """Replace a cohort's name, description and filters."""
    await conn.execute(UPDATE_COHORT, (name, description, _jsonb(filters), cohort_id))


async def delete_cohort(conn: Conn, cohort_id: int) -> None:
    """Mark a cohort deleted (its id stays reserved for flags that name it)."""
    await conn.execute(DELETE_COHORT, (cohort_id,))


async def select_cohort(conn: Conn, project_id: int, cohort_id: int) -> CohortRow | None:
    """One live cohort of the project."""
    row = await (await conn.execute(SELECT_COHORT, (project_id, cohort_id))).fetchone()
    return CohortRow(*row) if row else None


async def select_cohorts(conn: Conn, project_id: int) -> list[CohortRow]:
    """The project's live cohorts in id order."""
    cur = await conn.execute(SELECT_COHORTS, (project_id,))
    return [CohortRow(*r) for r in await cur.fetchall()]


async def select_cohort_definitions(
    conn: Conn, project_id: int
) -> list[tuple[int, bool, dict[str, Any] | None]]:
    """``(id, is_static, filters)`` of the project's live cohorts."""
    cur = await conn.execute(SELECT_COHORT_DEFINITIONS, (project_id,))
    return [(int(r[0]), bool(r[1]), r[2]) for r in await cur.fetchall()]


async def replace_members(
    conn: Conn, project_id: int, cohort_id: int, distinct_ids: list[str]
) -> None:
    """Make ``distinct_ids`` the static cohort's whole membership."""
    await conn.execute(DELETE_MEMBERS, (cohort_id,))
    await conn.execute(INSERT_MEMBERS, (project_id, cohort_id, distinct_ids))


async def add_members(conn: Conn, project_id: int, cohort_id: int, distinct_ids: list[str]) -> None:
    """Add ``distinct_ids`` to the static cohort (already present ones are skipped)."""
    await conn.execute(INSERT_MEMBERS, (project_id, cohort_id, distinct_ids))


async def upsert_group_type(conn: Conn, project_id: int, index: int, group_type: str) -> None:
    """Name the project's group type number ``index``."""
    await conn.execute(UPSERT_GROUP_TYPE, (project_id, index, group_type))


async def select_group_types(conn: Conn, project_id: int) -> dict[str, str]:
    """The project's group types: index (as text) to name."""
    cur = await conn.execute(SELECT_GROUP_TYPES, (project_id,))
    return {str(r[0]): str(r[1]) for r in await cur.fetchall()}
