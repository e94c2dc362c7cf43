"""Relative and absolute date ranges, buckets across DST changes, the compared period."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.insights import dates

NOW = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("date_from", "date_to", "start", "end"),
    [
        ("-7d", None, "2026-11-27T00:00:00-05:00", "2026-12-04T11:30:00.000001-05:00"),
        ("-48h", None, "2026-12-02T11:00:00-05:00", "2026-12-04T11:30:00.000001-05:00"),
        ("mStart", None, "2026-12-01T00:00:00-05:00", "2026-12-04T11:30:00.000001-05:00"),
        ("-1m", "-1d", "2026-11-04T00:00:00-05:00", "2026-12-04T00:00:00-05:00"),
        ("yStart", None, "2026-01-01T00:00:00-05:00", "2026-12-04T11:30:00.000001-05:00"),
        ("2026-10-31", "2026-11-01", "2026-10-31T00:00:00-04:00", "2026-11-02T00:00:00-05:00"),
        (
            "2026-11-01T12:00:00Z",
            "2026-11-02T00:00:00",
            "2026-11-01T07:00:00-05:00",
            "2026-11-02T00:00:00.000001-05:00",
        ),
    ],
)
def test_resolve(date_from: str, date_to: str | None, start: str, end: str) -> None:
    r = dates.resolve(date_from, date_to, now=NOW, tz=NY)
    assert r.start == datetime.fromisoformat(start)
    assert r.end == datetime.fromisoformat(end)


def test_all_starts_at_the_first_event_day() -> None:
    first = datetime(2026, 3, 5, 3, tzinfo=UTC)  # still the 4th in New York
    r = dates.resolve("all", None, now=NOW, tz=NY, first_event=lambda: first)
    assert r.start == datetime.fromisoformat("2026-03-04T00:00:00-05:00")


@pytest.mark.parametrize("bad", ["yesterday", "-7x", "2026-13-01", "-d"])
def test_bad_dates(bad: str) -> None:
    with pytest.raises(dates.BadDate):
        dates.resolve(bad, None, now=NOW, tz=NY)


def test_date_to_before_date_from() -> None:
    with pytest.raises(dates.BadDate):
        dates.resolve("2026-11-02", "2026-11-01", now=NOW, tz=NY)


def test_hours_of_a_fall_back_day() -> None:
    r = dates.resolve("2026-11-01", "2026-11-01", now=NOW, tz=NY)
    hours = dates.buckets(r, "hour")
    # 25 real hours, but the repeated 01:00 is one local bucket.
    assert len(hours) == 24
    assert hours[1] == datetime(2026, 11, 1, 1)


def test_weeks_start_on_sunday_or_monday() -> None:
    r = dates.resolve("2026-11-04", "2026-11-20", now=NOW, tz=NY)
    assert dates.buckets(r, "week")[0] == datetime(2026, 11, 1)  # a Sunday
    monday = dates.Range(r.start, r.end, NY, week_start_day=1)
    assert dates.buckets(monday, "week")[0] == datetime(2026, 11, 2)


def test_previous_period_has_as_many_buckets_right_before() -> None:
    r = dates.resolve("2026-01-31", "2026-03-31", now=NOW, tz=NY)
    before = dates.previous(r, "month")
    assert dates.buckets(before, "month") == [
        datetime(2025, 10, 1),
        datetime(2025, 11, 1),
        datetime(2025, 12, 1),
    ]
