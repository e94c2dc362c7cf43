"""Date parsing for ``is_date_before`` / ``is_date_after``, as PostHog's local evaluation does it.

A filter value is either relative (``-7d``, ``2w``, ``1h``, ``3m`` = months, ``1y``; the sign is
optional and the amount must be below 10,000) and resolved against the current time at evaluation,
or an absolute ISO 8601 date/time (``Z`` and `` UTC`` suffixes accepted; a bare 4-digit year means
that year on today's month and day). Naive times are UTC.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

_RELATIVE: Final = re.compile(r"^-?(?P<number>[0-9]+)(?P<interval>[a-z])$")
_YEAR_ONLY: Final = re.compile(r"\d{4}")
_SPACED_OFFSET: Final = re.compile(r" ([+-]\d{2}:\d{2})$")
_MAX_RELATIVE: Final = 10_000

# A filter resolved against "now" when evaluated; returns None where PostHog's parser gives up.
DateFilter = Callable[[datetime], datetime | None]


def parse_datetime(value: str) -> datetime:
    """An aware datetime from ISO-like text; raises ValueError (or similar) when unparsable."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif text[-4:].upper() == " UTC" or (not text.isascii() and text.upper().endswith(" UTC")):
        text = text[:-4] + "+00:00"
    elif len(text) == 4 and _YEAR_ONLY.fullmatch(text):
        today = datetime.now()  # PostHog takes the month and day from local time
        return datetime(int(text), today.month, today.day, tzinfo=UTC)
    if " " in text:
        text = _SPACED_OFFSET.sub(r"\1", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _months_before(moment: datetime, months: int) -> datetime | None:
    # One month at a time, clamping the day at every step (31 March - 2 months = 28 January).
    start = moment.year * 12 + moment.month - 1
    target = start - months
    year, month = divmod(target, 12)
    if not 1 <= year <= 9999:
        return None
    day = moment.day
    for index in range(start - 1, target - 1, -1):
        if day <= 28:
            break
        day = min(day, calendar.monthrange(index // 12, index % 12 + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _years_before(moment: datetime, years: int) -> datetime | None:
    year = moment.year - years
    if not 1 <= year <= 9999:
        return None
    day = 28 if years > 0 and (moment.month, moment.day) == (2, 29) else moment.day
    return moment.replace(year=year, day=day)


def _relative(number: int, interval: str) -> DateFilter | None:
    if interval == "h":
        delta = timedelta(hours=number)
    elif interval == "d":
        delta = timedelta(days=number)
    elif interval == "w":
        delta = timedelta(weeks=number)
    elif interval == "m":
        return lambda now: _months_before(now, number)
    elif interval == "y":
        return lambda now: _years_before(now, number)
    else:
        return None
    return lambda now: now - delta


def compile_date_filter(value: Any) -> DateFilter | None:
    """The filter value as a function of "now", or None when it never parses."""
    text = str(value)
    match = _RELATIVE.search(text)
    relative = None
    if match is not None and int(match.group("number")) < _MAX_RELATIVE:
        relative = _relative(int(match.group("number")), match.group("interval"))
    absolute: datetime | None = None
    if _YEAR_ONLY.fullmatch(text.strip()) is None:
        try:
            absolute = parse_datetime(text)
        except Exception:  # any failure means "not a date", as in PostHog
            absolute = None
        if relative is None:
            if absolute is None:
                return None
            fixed = absolute
            return lambda _now: fixed

    def resolve(now: datetime) -> datetime | None:
        # Relative months/years can fall outside the calendar; PostHog then tries the text as
        # an absolute date, which is evaluated now for a bare year.
        if relative is not None:
            moment = relative(now)
            if moment is not None:
                return moment
        if absolute is not None:
            return absolute
        try:
            return parse_datetime(text)
        except Exception:
            return None

    return resolve


def compare(operator_before: bool, override: Any, moment: datetime) -> bool | None:
    """``override`` before/after ``moment``; None when the property is not a usable date."""
    if isinstance(override, str):
        try:
            parsed = parse_datetime(override)
        except Exception:
            return None
        return parsed < moment if operator_before else parsed > moment
    if isinstance(override, datetime):
        aware = override if override.tzinfo is not None else override.replace(tzinfo=UTC)
        return aware < moment if operator_before else aware > moment
    if isinstance(override, date):
        day = moment.date()
        return override < day if operator_before else override > day
    return None
