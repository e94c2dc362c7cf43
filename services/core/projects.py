"""Projects and their credentials: the token (public) and the secret key (admin, reads)."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from services.core.repo import projects as repo

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import psycopg

    from schemas.api import ProjectOut
    from services.core.db import Pool
    from services.core.repo._conn import Conn

# How long a lookup result (positive or negative) is trusted before the database is asked again.
CACHE_TTL_S = 30.0


def new_token() -> str:
    """A new public project token (``phc_...``)."""
    return "phc_" + secrets.token_urlsafe(32)


def new_secret_key() -> str:
    """A new secret key (``phs_...``)."""
    return "phs_" + secrets.token_urlsafe(32)


def create_project(conn: psycopg.Connection[tuple[object, ...]], name: str) -> ProjectOut:
    """Create a project with a fresh token and secret key."""
    return repo.insert_project(conn, name, new_token(), new_secret_key())


def list_projects(conn: psycopg.Connection[tuple[object, ...]]) -> list[ProjectOut]:
    """Every project, oldest first, with its credentials."""
    return repo.select_projects(conn)


class ProjectDirectory:
    """Resolves credentials to a project id, with a short-lived in-process cache on the hot path."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._tokens: dict[str, tuple[int | None, float]] = {}
        self._secrets: dict[str, tuple[int | None, float]] = {}

    async def by_token(self, token: str) -> int | None:
        """The project of a public token; None when unknown. Cached for ``CACHE_TTL_S``."""
        return await self._lookup(self._tokens, repo.select_id_by_token, token)

    async def by_secret_key(self, key: str) -> int | None:
        """The project of a secret key; None when unknown. Cached for ``CACHE_TTL_S``."""
        return await self._lookup(self._secrets, repo.select_id_by_secret_key, key)

    async def secret_key_of(self, project_id: int) -> str | None:
        """The project's current secret key (not cached: a changed key must take effect)."""
        async with self._pool.connection() as conn:
            return await repo.select_secret_key(conn, project_id)

    async def token_of(self, project_id: int) -> str | None:
        """The project's public token (for the URLs it appears in), or None."""
        async with self._pool.connection() as conn:
            return await repo.select_token(conn, project_id)

    async def _lookup(
        self,
        cache: dict[str, tuple[int | None, float]],
        select: Callable[[Conn, str], Awaitable[int | None]],
        value: str,
    ) -> int | None:
        now = time.monotonic()
        hit = cache.get(value)
        if hit is not None and hit[1] > now:
            return hit[0]
        async with self._pool.connection() as conn:
            project_id = await select(conn, value)
        if len(cache) > 10_000:
            cache.clear()
        cache[value] = (project_id, now + CACHE_TTL_S)
        return project_id
