"""Background work of the billing service (none periodic yet: the projection is kept by the
projector consumer; metering and backfill jobs come here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.core.jobs import Periodic
    from services.core.service import Context


def periodic(ctx: Context) -> list[Periodic]:
    return []
