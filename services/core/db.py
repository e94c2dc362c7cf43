"""PostgreSQL connection pool with a clear error when the database cannot be reached."""

from __future__ import annotations

import time
import weakref

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from services.core.errors import StartupError

Pool = AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]
# A connection handed out again within this long of its last check is not pinged again: a
# check is a round trip, which on a hot read path costs as much as the query itself.
CHECK_EVERY_S = 1.0
_last_checked: weakref.WeakKeyDictionary[psycopg.AsyncConnection[TupleRow], float] = (
    weakref.WeakKeyDictionary()
)


async def _check(conn: psycopg.AsyncConnection[TupleRow]) -> None:
    now = time.monotonic()
    if now - _last_checked.get(conn, float("-inf")) < CHECK_EVERY_S and not conn.broken:
        return
    await AsyncConnectionPool.check_connection(conn)
    _last_checked[conn] = now


def first_line(exc: BaseException) -> str:
    """The gist of a driver error, for one-line messages."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def unreachable(url: str, exc: BaseException) -> StartupError:
    """The :class:`StartupError` for a database that can't be reached (password hidden)."""
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


async def open_pool(url: str, min_size: int, max_size: int, *, autocommit: bool = False) -> Pool:
    """A pool; ``autocommit`` suits read paths that would otherwise pay a COMMIT round trip."""
    await check_reachable(url)
    pool: Pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        # Waiting longer than this for a connection means the database is down: fail and retry.
        timeout=10,
        kwargs={"autocommit": autocommit},
        # A restarted database leaves dead connections behind; test them before handing them out
        # (at most once a second each; a connection that breaks in use is discarded on return).
        check=_check,
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
