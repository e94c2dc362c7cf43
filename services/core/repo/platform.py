"""What the platform says about itself: its storage mode, and whether the database answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.core.repo._conn import Conn

SELECT_STORAGE_MODE = "SELECT value FROM platform_info WHERE key = 'storage_mode'"
PING = "SELECT 1"


async def select_storage_mode(conn: Conn) -> str | None:
    """The storage mode migrations recorded; ``UndefinedTable`` before they ran."""
    row = await (await conn.execute(SELECT_STORAGE_MODE)).fetchone()
    return str(row[0]) if row else None


async def ping(conn: Conn) -> None:
    """One round trip; raises when the connection (or the database) is gone."""
    await conn.execute(PING)
