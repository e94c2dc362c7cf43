"""The ``projects`` table: a project's name, public token and secret key."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from schemas.api import ProjectOut

if TYPE_CHECKING:
    from services.core.repo._conn import Conn, SyncConn

INSERT = """
INSERT INTO projects (name, token, secret_key) VALUES (%s, %s, %s)
RETURNING id, name, token, secret_key, created_at
"""
SELECT_ALL = "SELECT id, name, token, secret_key, created_at FROM projects ORDER BY id"
SELECT_BY_TOKEN = "SELECT id FROM projects WHERE token = %s"  # noqa: S105 - SQL, not a secret
SELECT_BY_SECRET = "SELECT id FROM projects WHERE secret_key = %s"  # noqa: S105 - SQL
SELECT_SECRET_OF = "SELECT secret_key FROM projects WHERE id = %s"  # noqa: S105 - SQL
SELECT_TOKEN_OF = "SELECT token FROM projects WHERE id = %s"  # noqa: S105 - SQL

_COLUMNS = ("id", "name", "token", "secret_key", "created_at")


def _project(row: tuple[object, ...]) -> ProjectOut:
    return msgspec.convert(dict(zip(_COLUMNS, row, strict=True)), ProjectOut)


def insert_project(conn: SyncConn, name: str, token: str, secret_key: str) -> ProjectOut:
    """Insert a project with the given credentials; returns it as stored."""
    row = conn.execute(INSERT, (name, token, secret_key)).fetchone()
    assert row is not None  # RETURNING of an INSERT without conflict handling
    return _project(row)


def select_projects(conn: SyncConn) -> list[ProjectOut]:
    """Every project, oldest first, with its credentials."""
    return [_project(r) for r in conn.execute(SELECT_ALL).fetchall()]


async def _select_id(conn: Conn, query: str, value: str) -> int | None:
    row = await (await conn.execute(query, (value,))).fetchone()
    return int(row[0]) if row else None


async def select_id_by_token(conn: Conn, token: str) -> int | None:
    """The id of the project with public token ``token``; None when there is none."""
    return await _select_id(conn, SELECT_BY_TOKEN, token)


async def select_id_by_secret_key(conn: Conn, key: str) -> int | None:
    """The id of the project with secret key ``key``; None when there is none."""
    return await _select_id(conn, SELECT_BY_SECRET, key)


async def select_secret_key(conn: Conn, project_id: int) -> str | None:
    """The secret key of project ``project_id``; None when there is no such project."""
    row = await (await conn.execute(SELECT_SECRET_OF, (project_id,))).fetchone()
    return str(row[0]) if row else None


async def select_token(conn: Conn, project_id: int) -> str | None:
    """The public token of project ``project_id``; None when there is no such project."""
    row = await (await conn.execute(SELECT_TOKEN_OF, (project_id,))).fetchone()
    return str(row[0]) if row else None
