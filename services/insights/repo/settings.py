"""The project's insights settings (``insights_settings``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.insights.repo import Conn

SELECT_SETTINGS = """
SELECT timezone, week_start_day FROM insights_settings WHERE project_id = %s
"""
UPSERT_SETTINGS = """
INSERT INTO insights_settings (project_id, timezone, week_start_day) VALUES (%s, %s, %s)
ON CONFLICT (project_id) DO UPDATE
SET timezone = EXCLUDED.timezone, week_start_day = EXCLUDED.week_start_day, updated_at = now()
"""


async def select(conn: Conn, project_id: int) -> tuple[str, int] | None:
    """The project's (time zone, week start day); None when it set none."""
    row = await (await conn.execute(SELECT_SETTINGS, (project_id,))).fetchone()
    return (str(row[0]), int(row[1])) if row else None


async def upsert(conn: Conn, project_id: int, timezone: str, week_start_day: int) -> None:
    """Store the project's settings."""
    await conn.execute(UPSERT_SETTINGS, (project_id, timezone, week_start_day))
