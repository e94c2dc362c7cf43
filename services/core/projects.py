"""Projects and their credentials: the token (public) and the secret key (admin, reads)."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import msgspec

from schemas.api import ProjectOut

if TYPE_CHECKING:
    import psycopg

    from services.core.db import Pool

INSERT = """
INSERT INTO projects (name, token, secret_key) VALUES (%s, %s, %s)
RETURNING id, name, token, secret_key, created_at
"""
SELECT_ALL = "SELECT id, name, token, secret_key, created_at FROM projects ORDER BY id"
SELECT_BY_TOKEN = "SELECT id FROM projects WHERE token = %s"  # noqa: S105 - SQL, not a secret
SELECT_BY_SECRET = "SELECT id FROM projects WHERE secret_key = %s"  # noqa: S105 - SQL
SELECT_SECRET_OF = "SELECT secret_key FROM projects WHERE id = %s"  # noqa: S105 - SQL
SELECT_TOKEN_OF = "SELECT token FROM projects WHERE id = %s"  # noqa: S105 - SQL

# How long a lookup result (positive or negative) is trusted before the database is asked again.
CACHE_TTL_S = 30.0


def new_token() -> str:
    """A new public project token (``phc_...``)."""
    return "phc_" + secrets.token_urlsafe(32)


def new_secret_key() -> str:
    """A new secret key (``phs_...``)."""
    return "phs_" + secrets.token_urlsafe(32)


def _row(row: tuple[object, ...]) -> ProjectOut:
    return msgspec.convert(
        dict(zip(("id", "name", "token", "secret_key", "created_at"), row, strict=True)),
        ProjectOut,
    )


def create_project(conn: psycopg.Connection[tuple[object, ...]], name: str) -> ProjectOut:
    """Create a project with a fresh token and secret key."""
    row = conn.execute(INSERT, (name, new_token(), new_secret_key())).fetchone()
    assert row is not None
    return _row(row)


def list_projects(conn: psycopg.Connection[tuple[object, ...]]) -> list[ProjectOut]:
    """Every project, oldest first, with its credentials."""
    return [_row(r) for r in conn.execute(SELECT_ALL).fetchall()]


class ProjectDirectory:
    """Resolves credentials to a project id, with a short-lived in-process cache on the hot path."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._tokens: dict[str, tuple[int | None, float]] = {}
        self._secrets: dict[str, tuple[int | None, float]] = {}

    async def by_token(self, token: str) -> int | None:
        """The project of a public token; None when unknown. Cached for ``CACHE_TTL_S``."""
        return await self._lookup(self._tokens, SELECT_BY_TOKEN, token)

    async def by_secret_key(self, key: str) -> int | None:
        """The project of a secret key; None when unknown. Cached for ``CACHE_TTL_S``."""
        return await self._lookup(self._secrets, SELECT_BY_SECRET, key)

    async def secret_key_of(self, project_id: int) -> str | None:
        """The project's current secret key (not cached: a changed key must take effect)."""
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_SECRET_OF, (project_id,))).fetchone()
        return str(row[0]) if row else None

    async def token_of(self, project_id: int) -> str | None:
        """The project's public token (for the URLs it appears in), or None."""
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_TOKEN_OF, (project_id,))).fetchone()
        return str(row[0]) if row else None

    async def _lookup(
        self, cache: dict[str, tuple[int | None, float]], query: str, value: str
    ) -> int | None:
        now = time.monotonic()
        hit = cache.get(value)
        if hit is not None and hit[1] > now:
            return hit[0]
        async with self._pool.connection() as conn:
            row = await (await conn.execute(query, (value,))).fetchone()
        project_id = int(row[0]) if row else None
        if len(cache) > 10_000:
            cache.clear()
        cache[value] = (project_id, now + CACHE_TTL_S)
        return project_id
