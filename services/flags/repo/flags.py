"""SQL of flag definitions: the change log (``flag_changes``) and its projection
(``feature_flags``), reads as of a moment, and the projection rebuilt from the log alone."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING, Any

import msgspec
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from services.flags.repo._conn import Conn


class FlagRow(msgspec.Struct, frozen=True):
    """A flag's current definition, as projected from its change log."""

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
    """One entry of a flag's change log: the full definition at that version."""

    id: int
    flag_id: int
    key: str
    version: int
    kind: str
    actor: str
    reason: str
    definition: dict[str, Any]
    created_at: datetime


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
SELECT_PROJECTED_PROJECTS = "SELECT DISTINCT project_id FROM feature_flags"
DELETE_PROJECTION = """
DELETE FROM feature_flags WHERE %(project_id)s::bigint IS NULL OR project_id = %(project_id)s
"""


async def select_flags(conn: Conn, project_id: int, *, archived: bool) -> list[FlagRow]:
    """The project's flags, archived ones too when ``archived``, in id order."""
    cur = await conn.execute(SELECT_FLAGS, {"project_id": project_id, "archived": archived})
    return [FlagRow(*r) for r in await cur.fetchall()]


async def select_flag(
    conn: Conn, project_id: int, key: str, *, for_update: bool = False
) -> FlagRow | None:
    """The project's flag ``key``, row-locked until commit when ``for_update``."""
    query = SELECT_FLAG_FOR_UPDATE if for_update else SELECT_FLAG
    row = await (await conn.execute(query, (project_id, key))).fetchone()
    return FlagRow(*row) if row else None


async def select_flag_by_id(conn: Conn, flag_id: int) -> FlagRow | None:
    """The flag with this id, in any project."""
    row = await (await conn.execute(SELECT_FLAG_BY_ID, (flag_id,))).fetchone()
    return FlagRow(*row) if row else None


async def next_flag_id(conn: Conn) -> int:
    """A fresh flag id (ids are global, so a flag keeps its id across rebuilds)."""
    row = await (await conn.execute(NEXT_FLAG_ID)).fetchone()
    assert row is not None
    return int(row[0])


async def upsert_flag(conn: Conn, flag: FlagRow) -> None:
    """Write ``flag`` into the projection, replacing its previous state."""
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
    """Append one change to the flag log."""
    cur = await conn.execute(
        INSERT_CHANGE,
        (project_id, flag_id, key, version, kind, actor, reason, Jsonb(definition)),
    )
    row = await cur.fetchone()
    assert row is not None
    return ChangeRow(*row)


async def select_changes(conn: Conn, project_id: int, key: str) -> list[ChangeRow]:
    """Every change of the project's flag ``key``, oldest first."""
    cur = await conn.execute(SELECT_CHANGES, (project_id, key))
    return [ChangeRow(*r) for r in await cur.fetchall()]


async def select_as_of(
    conn: Conn, project_id: int, as_of: datetime, key: str | None = None
) -> list[tuple[ChangeRow, datetime]]:
    """Each flag's last change at or before ``as_of``, with the time the flag was created."""
    cur = await conn.execute(SELECT_AS_OF, {"project_id": project_id, "as_of": as_of, "key": key})
    return [(ChangeRow(*r[:9]), r[9]) for r in await cur.fetchall()]


async def select_rebuilt(conn: Conn, project_id: int | None) -> list[FlagRow]:
    """The projection as the log alone yields it, for one project or (``None``) all."""
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


async def select_projected_projects(conn: Conn) -> list[int]:
    """The projects that have rows in the projection."""
    cur = await conn.execute(SELECT_PROJECTED_PROJECTS)
    return [int(r[0]) for r in await cur.fetchall()]


async def delete_projection(conn: Conn, project_id: int | None) -> None:
    """Empty the projection of one project or (``None``) all."""
    await conn.execute(DELETE_PROJECTION, {"project_id": project_id})
