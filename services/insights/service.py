"""Use cases of the insights service: answering queries, the project's settings."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import psycopg

from schemas.api import FieldError
from schemas.insights import (
    FunnelsQuery,
    InsightsSettings,
    QueryResponse,
    ResolvedDateRange,
    TimingEntry,
    TrendsQuery,
)
from services.insights import dates, funnels, trends, validate
from services.insights.config import InsightsConfig
from services.insights.errors import InvalidSettings, QueryTimedOut
from services.insights.repo import events as events_repo
from services.insights.repo import settings as settings_repo

if TYPE_CHECKING:
    from schemas.insights import DateRange
    from services.core.service import Context
    from services.insights.repo import Conn


def _zone(name: str) -> ZoneInfo | None:
    if name not in available_timezones():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


async def _settings(conn: Conn, project_id: int) -> InsightsSettings:
    stored = await settings_repo.select(conn, project_id)
    if stored is None:
        return InsightsSettings()
    return InsightsSettings(timezone=stored[0], week_start_day=stored[1])


async def get_settings(ctx: Context, project_id: int) -> InsightsSettings:
    """The project's settings (UTC, weeks from Sunday, when it set none)."""
    async with ctx.pool.connection() as conn:
        return await _settings(conn, project_id)


async def put_settings(ctx: Context, project_id: int, body: InsightsSettings) -> InsightsSettings:
    """Store the project's settings; :class:`InvalidSettings` for an unknown zone or week day."""
    if _zone(body.timezone) is None:
        raise InvalidSettings(
            "timezone is not an IANA time zone name",
            [FieldError("timezone", f"unknown time zone {body.timezone!r}")],
        )
    if body.week_start_day not in (0, 1):
        raise InvalidSettings(
            "week_start_day must be 0 or 1",
            [FieldError("week_start_day", "must be 0 (Sunday) or 1 (Monday)")],
        )
    async with ctx.pool.connection() as conn:
        await settings_repo.upsert(conn, project_id, body.timezone, body.week_start_day)
    return body


async def _range(
    conn: Conn, project_id: int, dr: DateRange | None, s: InsightsSettings, now: datetime
) -> dates.Range:
    tz = _zone(s.timezone) or ZoneInfo("UTC")
    date_from = dr.date_from if dr else None
    first = await events_repo.first_event(conn, project_id) if date_from == "all" else None
    try:
        return dates.resolve(
            date_from,
            dr.date_to if dr else None,
            now=now,
            tz=tz,
            week_start_day=s.week_start_day,
            first_event=lambda: first,
        )
    except dates.BadDate as exc:
        raise validate.fail("query.dateRange", str(exc)) from None


async def query(
    ctx: Context, project_id: int, q: TrendsQuery | FunnelsQuery, now: datetime | None = None
) -> QueryResponse:
    """Answer one query in PostHog's response shape; 503 when it runs past the timeout."""
    cfg = ctx.settings_of(InsightsConfig)
    try:
        return await _answer(ctx, project_id, q, now or datetime.now(UTC))
    except psycopg.errors.QueryCanceled:
        raise QueryTimedOut(
            f"the query ran longer than {cfg.statement_timeout_ms} ms; ask for a shorter range"
        ) from None


async def _answer(
    ctx: Context, project_id: int, q: TrendsQuery | FunnelsQuery, now: datetime
) -> QueryResponse:
    cfg = ctx.settings_of(InsightsConfig)
    started = time.perf_counter()
    results: list[Any]
    rolled = False
    async with ctx.pool.connection() as conn, conn.transaction():
        await events_repo.set_timeout(conn, cfg.statement_timeout_ms)
        s = await _settings(conn, project_id)
        r = await _range(conn, project_id, q.dateRange, s, now)
        if isinstance(q, TrendsQuery):
            tp = trends.plan(
                project_id,
                q,
                default_limit=cfg.breakdown_limit,
                max_series=cfg.max_series,
                rollups=cfg.use_rollups and ctx.storage_mode == "partitioned",
            )
            if len(dates.buckets(r, q.interval)) > cfg.max_buckets:
                raise validate.fail(
                    "query.interval", f"the range has more than {cfg.max_buckets} intervals"
                )
            planned = time.perf_counter()
            results, rolled = await trends.run(conn, tp, r)
        else:
            fp = funnels.plan(
                project_id, q, max_series=cfg.max_series, default_limit=cfg.breakdown_limit
            )
            planned = time.perf_counter()
            results = await funnels.run(conn, fp, r)
    done = time.perf_counter()
    return QueryResponse(
        results=results,
        timings=[
            TimingEntry("plan", round(planned - started, 6)),
            TimingEntry("sql", round(done - planned, 6)),
            TimingEntry(".", round(done - started, 6)),
        ],
        resolved_date_range=ResolvedDateRange(
            date_from=r.start.astimezone(r.tz).isoformat(),
            date_to=(r.end - dates.ONE).astimezone(r.tz).isoformat(),
        ),
        timezone=r.tz.key,
        served_by_rollup=rolled,
    )
