"""SQL of the experiments service: experiments, the flag versions it has seen, cached results."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import TYPE_CHECKING, Any

import msgspec
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    Conn = AsyncConnection[tuple[Any, ...]]


class ExperimentRow(msgspec.Struct, frozen=True):
    """A stored experiment; metrics, analysis and exposure as their JSON."""

    id: int
    project_id: int
    name: str
    description: str
    feature_flag_key: str
    status: str
    start_at: datetime | None
    end_at: datetime | None
    metrics: list[dict[str, Any]]
    analysis: dict[str, Any]
    exposure: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class FlagVersion(msgspec.Struct, frozen=True):
    """One version of a flag's definition, as the flags service announced it."""

    flag_id: int
    version: int
    definition: dict[str, Any]
    changed_at: datetime


_COLUMNS = (
    "id, project_id, name, description, feature_flag_key, status, start_at, end_at, metrics,"
    " analysis, exposure, created_at, updated_at"
)
INSERT = """
INSERT INTO experiments (project_id, name, description, feature_flag_key, start_at, end_at,
                         metrics, analysis, exposure)
VALUES (%(project_id)s, %(name)s, %(description)s, %(feature_flag_key)s, %(start_at)s,
        %(end_at)s, %(metrics)s, %(analysis)s, %(exposure)s)
RETURNING id
"""
UPDATE = """
UPDATE experiments SET name = %(name)s, description = %(description)s,
    feature_flag_key = %(feature_flag_key)s, start_at = %(start_at)s, end_at = %(end_at)s,
    metrics = %(metrics)s, analysis = %(analysis)s, exposure = %(exposure)s,
    status = %(status)s, updated_at = clock_timestamp()
WHERE id = %(id)s
"""
SELECT_ONE = f"SELECT {_COLUMNS} FROM experiments WHERE project_id = %s AND id = %s"
SELECT_ONE_FOR_UPDATE = SELECT_ONE + " FOR UPDATE"
SELECT_ALL = f"SELECT {_COLUMNS} FROM experiments WHERE project_id = %s ORDER BY id DESC"
SELECT_RUNNING = f"SELECT {_COLUMNS} FROM experiments WHERE status = 'running' ORDER BY id"

INSERT_FLAG_VERSION = """
INSERT INTO experiment_flag_versions (project_id, flag_id, key, version, definition, changed_at)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
# Every version of the flag that was in force at some moment of [start, end]: the one in force
# at the start, and each later one up to the end.
SELECT_FLAG_VERSIONS = """
(SELECT flag_id, version, definition, changed_at FROM experiment_flag_versions
 WHERE project_id = %(project_id)s AND key = %(key)s AND changed_at <= %(start)s
 ORDER BY changed_at DESC, version DESC LIMIT 1)
UNION ALL
(SELECT flag_id, version, definition, changed_at FROM experiment_flag_versions
 WHERE project_id = %(project_id)s AND key = %(key)s
   AND changed_at > %(start)s AND changed_at <= %(end)s
 ORDER BY changed_at, version)
"""
SELECT_LATEST_FLAG = """
SELECT flag_id, version, definition, changed_at FROM experiment_flag_versions
WHERE project_id = %s AND key = %s ORDER BY changed_at DESC, version DESC LIMIT 1
"""

SELECT_RESULTS = "SELECT computed_at, body FROM experiment_results WHERE experiment_id = %s"
UPSERT_RESULTS = """
INSERT INTO experiment_results (experiment_id, computed_at, body) VALUES (%s, %s, %s)
ON CONFLICT (experiment_id) DO UPDATE SET computed_at = EXCLUDED.computed_at, body = EXCLUDED.body
"""
DELETE_RESULTS = "DELETE FROM experiment_results WHERE experiment_id = %s"


def _values(project_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields, project_id=project_id)
    for key in ("metrics", "analysis", "exposure"):
        out[key] = Jsonb(out[key])
    return out


async def insert(conn: Conn, project_id: int, fields: dict[str, Any]) -> int:
    """Store a new draft experiment; its id."""
    row = await (await conn.execute(INSERT, _values(project_id, fields))).fetchone()
    assert row is not None
    return int(row[0])


async def update(conn: Conn, project_id: int, experiment_id: int, fields: dict[str, Any]) -> None:
    """Overwrite the experiment's fields and status; stamps ``updated_at``."""
    await conn.execute(UPDATE, {**_values(project_id, fields), "id": experiment_id})


async def select_one(
    conn: Conn, project_id: int, experiment_id: int, *, for_update: bool = False
) -> ExperimentRow | None:
    """The project's experiment, row-locked with ``for_update``; None when not there."""
    query = SELECT_ONE_FOR_UPDATE if for_update else SELECT_ONE
    row = await (await conn.execute(query, (project_id, experiment_id))).fetchone()
    return ExperimentRow(*row) if row else None


async def select_all(conn: Conn, project_id: int) -> list[ExperimentRow]:
    """The project's experiments, newest first."""
    cur = await conn.execute(SELECT_ALL, (project_id,))
    return [ExperimentRow(*r) for r in await cur.fetchall()]


async def select_running(conn: Conn) -> list[ExperimentRow]:
    """Running experiments of every project."""
    cur = await conn.execute(SELECT_RUNNING)
    return [ExperimentRow(*r) for r in await cur.fetchall()]


async def insert_flag_version(
    conn: Conn,
    project_id: int,
    flag_id: int,
    key: str,
    version: int,
    definition: dict[str, Any],
    changed_at: datetime,
) -> None:
    """Store one version of a flag; a version already stored is left as it is."""
    await conn.execute(
        INSERT_FLAG_VERSION, (project_id, flag_id, key, version, Jsonb(definition), changed_at)
    )


async def select_flag_versions(
    conn: Conn, project_id: int, key: str, start: datetime, end: datetime
) -> list[FlagVersion]:
    """The versions of the flag in force at some moment of [start, end], oldest first: the
    one in force at ``start``, then each later one."""
    params = {"project_id": project_id, "key": key, "start": start, "end": end}
    cur = await conn.execute(SELECT_FLAG_VERSIONS, params)
    return [FlagVersion(*r) for r in await cur.fetchall()]


async def select_latest_flag(conn: Conn, project_id: int, key: str) -> FlagVersion | None:
    """The flag's latest known version, archived or not; None when never seen."""
    row = await (await conn.execute(SELECT_LATEST_FLAG, (project_id, key))).fetchone()
    return FlagVersion(*row) if row else None


async def select_results(conn: Conn, experiment_id: int) -> tuple[datetime, dict[str, Any]] | None:
    """The stored results and when they were computed; None when there are none."""
    row = await (await conn.execute(SELECT_RESULTS, (experiment_id,))).fetchone()
    return (row[0], row[1]) if row else None


async def upsert_results(
    conn: Conn, experiment_id: int, computed_at: datetime, body: dict[str, Any]
) -> None:
    """Store the experiment's results, replacing any stored before."""
    await conn.execute(UPSERT_RESULTS, (experiment_id, computed_at, Jsonb(body)))


async def delete_results(conn: Conn, experiment_id: int) -> None:
    """Drop the experiment's stored results."""
    await conn.execute(DELETE_RESULTS, (experiment_id,))
