"""PostgreSQL connection pool with a clear error when the database cannot be reached."""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from services.core.errors import StartupError

Pool = AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]


def first_line(exc: BaseException) -> str:
    """The gist of a driver error, for one-line messages."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def unreachable(url: str, exc: BaseException) -> StartupError:
    return StartupError(f"cannot reach the database at {redact(url)}: {first_line(exc)}")


def check_reachable_sync(url: str, timeout_s: float = 5.0) -> None:
    """Open one connection or raise :class:`StartupError` saying why."""
    try:
        psycopg.connect(url, connect_timeout=max(1, int(timeout_s))).close()
    except psycopg.OperationalError as exc:
        raise unreachable(url, exc) from None


async def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Open one connection or raise :class:`StartupError` saying why."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=max(1, int(timeout_s)))
    except psycopg.OperationalError as exc:
        raise unreachable(url, exc) from None
    await conn.close()


async def open_pool(url: str, min_size: int, max_size: int) -> Pool:
    await check_reachable(url)
    pool: Pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        # Waiting longer than this for a connection means the database is down: fail and retry.
        timeout=10,
        kwargs={"autocommit": False},
        # A restarted database leaves dead connections behind; test each one before handing it out.
        check=AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=True, timeout=10)
    return pool


def redact(url: str) -> str:
    """Hide the password of a connection URL before it is printed."""
    if "@" not in url or "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
