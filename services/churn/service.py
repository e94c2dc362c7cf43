"""Churn use cases over its repo: point-in-time activity features for snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.churn.repo import features

if TYPE_CHECKING:
    from datetime import datetime

    from services.churn.repo import Conn
    from services.churn.repo.features import ActivityFeatures


async def activity_features(
    conn: Conn, project_id: int, snapshots: list[tuple[str, datetime]], top_flags: int
) -> list[ActivityFeatures]:
    """Activity features of each (distinct_id, t) snapshot, from events before t only."""
    return await features.activity(conn, project_id, snapshots, top_flags)
