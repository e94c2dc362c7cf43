"""Date ranges and interval buckets in the project's time zone.

A range is ``[start, end)`` in UTC instants; buckets are local wall-clock times truncated to the
interval (as PostgreSQL's ``date_trunc`` over ``timestamp AT TIME ZONE tz`` does), so a DST
change day has 23 or 25 hours and its repeated local hour is one bucket.

Relative ``date_from``: ``-Nh`` (start of the hour N hours ago), ``-Nd``/``-Nw``/``-Nm``/``-Ny``
(start of the local day N days/weeks/months/years ago), ``dStart``/``wStart``/``mStart``/``yStart``
(start of today, this week, this month, this year), ``all`` (the project's first event).
``date_to``: absent (now), a date (the end of that local day), a datetime, or a relative value
(the end of that day, or of that hour for ``-Nh``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from zoneinfo import ZoneInfo

Interval = str  # "hour" | "day" | "week" | "month"
_RELATIVE = re.compile(r"^-(\d{1,4})([hdwmy])$")
_STARTS = ("dStart", "wStart", "mStart", "yStart")
ONE = timedelta(microseconds=1)


class BadDate(ValueError):
    """A date the range cannot use; its message says why."""


@dataclass(frozen=True)
class Range:
    """``[start, end)`` in UTC, its time zone and the first day of its weeks."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    week_start_day: int = 0


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    """The local wall-clock time of an instant, without time zone."""
    return moment.astimezone(tz).replace(tzinfo=None)


def instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time (the first of a repeated hour)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def add_months(day: datetime, months: int) -> datetime:
    """``day`` moved by whole months, its day of month clamped to the month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    first_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last = (first_next - timedelta(days=1)).day
    return day.replace(year=year, month=month + 1, day=min(day.day, last))


def truncate(wall: datetime, interval: Interval, week_start_day: int = 0) -> datetime:
    """The start of the bucket holding a local time."""
    if interval == "hour":
        return wall.replace(minute=0, second=0, microsecond=0)
    day = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":
        # weekday(): Monday 0; week_start_day: Sunday 0, Monday 1.
        back = (day.weekday() - (week_start_day - 1)) % 7
        return day - timedelta(days=back)
    return day.replace(day=1)


def step(wall: datetime, interval: Interval, n: int = 1) -> datetime:
    """A local time moved by ``n`` intervals."""
    if interval == "hour":
        return wall + timedelta(hours=n)
    if interval == "day":
        return wall + timedelta(days=n)
    if interval == "week":
        return wall + timedelta(weeks=n)
    return add_months(wall, n)


def buckets(r: Range, interval: Interval) -> list[datetime]:
    """Every bucket start (local) from the range's first to its last instant."""
    first = truncate(local(r.start, r.tz), interval, r.week_start_day)
    last = truncate(local(r.end - ONE, r.tz), interval, r.week_start_day)
    out: list[datetime] = []
    current = first
    while current <= last:
        out.append(current)
        current = step(current, interval)
    return out


def _parse_absolute(text: str, tz: ZoneInfo, end: bool) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadDate(f"{text!r} is not a date, a datetime or a relative date") from None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return instant(moment + timedelta(days=1) if end else moment, tz)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    moment = moment.astimezone(UTC)
    return moment + ONE if end else moment


def _relative(text: str, now: datetime, tz: ZoneInfo, week_start_day: int) -> tuple[datetime, str]:
    """A relative date's local start, and the unit its end is rounded to."""
    wall = local(now, tz)
    today = truncate(wall, "day")
    if text in _STARTS:
        unit = {"dStart": "day", "wStart": "week", "mStart": "month", "yStart": "year"}[text]
        if unit == "year":
            return today.replace(month=1, day=1), "day"
        return truncate(wall, unit, week_start_day), "day"
    match = _RELATIVE.match(text)
    if match is None:
        raise BadDate(f"{text!r} is not a date, a datetime or a relative date")
    n, unit = int(match[1]), match[2]
    if unit == "h":
        return truncate(wall, "hour") - timedelta(hours=n), "hour"
    if unit == "d":
        return today - timedelta(days=n), "day"
    if unit == "w":
        return today - timedelta(weeks=n), "day"
    return add_months(today, -n * (12 if unit == "y" else 1)), "day"


def resolve(
    date_from: str | None,
    date_to: str | None,
    *,
    now: datetime,
    tz: ZoneInfo,
    week_start_day: int = 0,
    first_event: Callable[[], datetime | None] | None = None,
) -> Range:
    """The range of a query's ``dateRange`` (default: the last 7 days to now).

    ``first_event`` gives the project's first event for ``date_from: "all"``.
    """
    start_text = date_from or "-7d"
    if start_text == "all":
        first = first_event() if first_event is not None else None
        start = instant(truncate(local(first or now, tz), "day"), tz)
    elif start_text.startswith("-") or start_text in _STARTS:
        wall, _ = _relative(start_text, now, tz, week_start_day)
        start = instant(wall, tz)
    else:
        start = _parse_absolute(start_text, tz, end=False)
    if date_to is None or date_to == "":
        end = now + ONE
    elif date_to.startswith("-") or date_to in _STARTS:
        wall, unit = _relative(date_to, now, tz, week_start_day)
        end = instant(step(wall, unit) if unit == "hour" else wall + timedelta(days=1), tz)
    else:
        end = _parse_absolute(date_to, tz, end=True)
    if end <= start:
        raise BadDate("date_to is before date_from")
    return Range(start, end, tz, week_start_day)


def previous(r: Range, interval: Interval) -> Range:
    """The period before: as many buckets, immediately before the first one (local calendar)."""
    n = len(buckets(r, interval))
    start = instant(step(local(r.start, r.tz), interval, -n), r.tz)
    end = instant(step(local(r.end, r.tz), interval, -n), r.tz)
    return Range(start, end, r.tz, r.week_start_day)


def day_text(bucket: datetime, interval: Interval) -> str:
    """PostHog's ``days`` entry: the bucket's local date (and time, hourly)."""
    return bucket.strftime("%Y-%m-%d %H:%M:%S" if interval == "hour" else "%Y-%m-%d")


def label(bucket: datetime, interval: Interval) -> str:
    """PostHog's ``labels`` entry, e.g. ``4-Dec-2026`` (``4-Dec-2026 13:00`` hourly)."""
    text = f"{bucket.day}-{bucket.strftime('%b-%Y')}"
    return f"{text} {bucket.strftime('%H:%M')}" if interval == "hour" else text
