"""Meters: defined per project, reported by :mod:`services.billing.metering`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.api import FieldError
from schemas.billing import MeterIn, MeterList, MeterOut, MeterUsage, UsageReported
from services.billing import metering
from services.billing.errors import InvalidSettings
from services.billing.repo import meters as repo
from services.billing.state import state_of

if TYPE_CHECKING:
    from services.core.service import Context

WINDOWS = {"minute": 60, "hour": 3600, "day": 86400}
_NAMES = {v: k for k, v in WINDOWS.items()}
MAX_TEXT = 100


async def create_meter(ctx: Context, project_id: int, body: MeterIn) -> MeterOut:
    _check(body)
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await repo.insert_meter(
            conn,
            project_id,
            body.event,
            body.aggregation,
            body.property if body.aggregation == "sum" else None,
            body.stripe_event_name,
            WINDOWS[body.window],
            body.starts_at,
        )
    return _out(row, [])


async def list_meters(ctx: Context, project_id: int) -> MeterList:
    async with ctx.pool.connection() as conn:
        rows = await repo.select_meters(conn, project_id)
        usage = await repo.select_meter_usage(conn, project_id)
    return MeterList([_out(r, [u for u in usage if u.meter_id == r.id]) for r in rows])


async def report_now(ctx: Context, project_id: int) -> UsageReported:
    """Run the metering job for the project's meters at once."""
    state = state_of(ctx)
    async with ctx.pool.connection() as conn:
        result = await metering.report_usage(
            conn, state.box, state.config.stripe_api_base, project_id
        )
    return UsageReported(result.planned, result.reported, result.pending, result.failed)


def _check(body: MeterIn) -> None:
    errors = []
    for name in ("event", "stripe_event_name"):
        if not 1 <= len(getattr(body, name)) <= MAX_TEXT:
            errors.append(FieldError(name, f"1 to {MAX_TEXT} characters"))
    if body.aggregation not in ("count", "sum"):
        errors.append(FieldError("aggregation", "count or sum"))
    if body.aggregation == "sum" and not body.property:
        errors.append(FieldError("property", "required to sum"))
    if body.window not in WINDOWS:
        errors.append(FieldError("window", "minute, hour or day"))
    if errors:
        raise InvalidSettings("invalid meter", errors)


def _out(row: repo.MeterRow, usage: list[repo.UsageRow]) -> MeterOut:
    return MeterOut(
        id=row.id,
        event=row.event,
        stripe_event_name=row.stripe_event_name,
        aggregation=row.aggregation,
        property=row.property,
        window=_NAMES[row.window_s],
        starts_at=row.starts_at,
        created_at=row.created_at,
        usage=[MeterUsage(u.status, u.reports, u.value, u.last_error) for u in usage],
    )
