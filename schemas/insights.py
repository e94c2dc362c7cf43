"""The insights query API's bodies: PostHog's query schema for the kinds we answer.

``POST /api/query`` takes ``{"query": {"kind": "TrendsQuery" | "FunnelsQuery", ...}}``. Field
names are PostHog's (``series``, ``dateRange``, ``breakdownFilter``, ``funnelsFilter`` ...).
Keys a typo would produce are refused (400 naming the field). Keys PostHog's clients send for
display or caching, which change nothing in the numbers, are declared here as ``Ignored`` and
ignored; keys that would change the numbers but are not implemented are refused by the service
with a 400 naming them (see docs/insights.md).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# A PostHog key accepted and ignored (display, caching, versioning: never the numbers).
Ignored = Any


class PropertyFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``{"key", "value", "operator", "type"}``: the flags engine's operators and meaning."""

    key: str
    value: Any = None
    operator: str = "exact"
    # "event" is implemented; others are refused by the service (400).
    type: str = "event"
    label: Ignored = None


class EventsNode(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="EventsNode"
):
    """A series or funnel step: an event (None: all events) with its own filters and math."""

    event: str | None = None
    name: str | None = None
    custom_name: str | None = None
    math: str | None = None
    math_property: str | None = None
    properties: list[PropertyFilter] = []
    # Refused by the service when set (not implemented).
    math_group_type_index: int | None = None
    math_hogql: str | None = None
    fixedProperties: list[Any] | None = None  # noqa: N815 - PostHog's name
    math_multiplier: float | None = None
    math_property_revenue_currency: Any = None
    optionalInFunnel: bool | None = None  # noqa: N815 - PostHog's name
    # Ignored: a UI hint, and the keys of PostHog's event lists (not insights).
    math_property_type: Ignored = None
    limit: Ignored = None
    orderBy: Ignored = None  # noqa: N815 - PostHog's name
    response: Ignored = None
    version: Ignored = None


class DateRange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Absolute (``2026-01-31``, ISO datetimes) or relative (``-7d``, ``mStart``, ``all``)."""

    date_from: str | None = None
    date_to: str | None = None
    explicitDate: Ignored = None  # noqa: N815 - PostHog's name


class BreakdownFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Breakdown by one event property: the top ``breakdown_limit`` values plus "other"."""

    breakdown: str | None = None
    breakdown_type: str | None = "event"
    breakdown_limit: int | None = None
    # Refused when set (not implemented).
    breakdowns: list[Any] | None = None
    breakdown_histogram_bin_count: int | None = None
    breakdown_normalize_url: bool | None = None
    breakdown_hide_other_aggregation: bool | None = None
    breakdown_group_type_index: int | None = None


class CompareFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``compare: true`` adds the previous period; ``compare_to`` is refused (not implemented)."""

    compare: bool | None = None
    compare_to: str | None = None


class TrendsFilter(msgspec.Struct, frozen=True):
    """The formula over series (``A/B``); PostHog's display keys here are ignored."""

    formula: str | None = None
    # PostHog's newer list forms: one formula is used, more are refused (not implemented).
    formulas: list[str] | None = None
    formulaNodes: list[dict[str, Any]] | None = None  # noqa: N815 - PostHog's name
    # Refused when over 1 (a moving average; not implemented).
    smoothingIntervals: int | None = None  # noqa: N815 - PostHog's name


class TrendsQuery(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="TrendsQuery"
):
    """A trend: each series' value per interval."""

    series: list[EventsNode]
    dateRange: DateRange | None = None  # noqa: N815 - PostHog's name
    interval: Literal["hour", "day", "week", "month"] = "day"
    properties: list[PropertyFilter] = []
    breakdownFilter: BreakdownFilter | None = None  # noqa: N815 - PostHog's name
    compareFilter: CompareFilter | None = None  # noqa: N815 - PostHog's name
    trendsFilter: TrendsFilter | None = None  # noqa: N815 - PostHog's name
    # Accepted; the project-level test-account filter is not built yet, so it filters nothing.
    filterTestAccounts: bool | None = None  # noqa: N815 - PostHog's name
    # Refused when set (not implemented).
    aggregation_group_type_index: int | None = None
    samplingFactor: float | None = None  # noqa: N815 - PostHog's name
    conversionGoal: Any = None  # noqa: N815 - PostHog's name
    modifiers: Ignored = None
    response: Ignored = None
    dataColorTheme: Ignored = None  # noqa: N815 - PostHog's name
    version: Ignored = None
    tags: Ignored = None


class FunnelsFilter(msgspec.Struct, frozen=True):
    """Window and order of a funnel; PostHog's display keys here are ignored."""

    funnelWindowInterval: int = 14  # noqa: N815 - PostHog's name
    funnelWindowIntervalUnit: Literal[  # noqa: N815 - PostHog's name
        "second", "minute", "hour", "day", "week", "month"
    ] = "day"
    funnelOrderType: Literal["ordered", "strict", "unordered"] = "ordered"  # noqa: N815
    funnelVizType: Literal["steps"] = "steps"  # noqa: N815 - PostHog's name
    # Refused when set (not implemented).
    funnelAggregateByHogQL: str | None = None  # noqa: N815 - PostHog's name
    # Refused when non-empty (not implemented).
    exclusions: list[Any] = []


class FunnelsQuery(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="FunnelsQuery"
):
    """A funnel: how many persons did each step, in order, within the window."""

    series: list[EventsNode]
    dateRange: DateRange | None = None  # noqa: N815 - PostHog's name
    interval: Ignored = None
    properties: list[PropertyFilter] = []
    funnelsFilter: FunnelsFilter | None = None  # noqa: N815 - PostHog's name
    breakdownFilter: BreakdownFilter | None = None  # noqa: N815 - PostHog's name
    filterTestAccounts: bool | None = None  # noqa: N815 - PostHog's name
    aggregation_group_type_index: int | None = None
    samplingFactor: float | None = None  # noqa: N815 - PostHog's name
    modifiers: Ignored = None
    response: Ignored = None
    dataColorTheme: Ignored = None  # noqa: N815 - PostHog's name
    version: Ignored = None
    tags: Ignored = None


class QueryRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of ``POST /api/query``; PostHog's request-level keys are ignored."""

    query: TrendsQuery | FunnelsQuery
    refresh: Ignored = None
    client_query_id: Ignored = None
    name: Ignored = None
    filters_override: Ignored = None
    variables_override: Ignored = None
    # PostHog's async mode: we always answer synchronously.
    # (``async`` is a Python keyword; PostHog's key is accepted through the rename below.)
    async_: Ignored = msgspec.field(default=None, name="async")


class TimingEntry(msgspec.Struct, frozen=True):
    """One timed step (PostHog's ``timings`` entries): ``k`` its name, ``t`` seconds."""

    k: str
    t: float


class ResolvedDateRange(msgspec.Struct, frozen=True):
    """The range the query covered, in the project's time zone (``date_to`` inclusive)."""

    date_from: str
    date_to: str


class QueryResponse(msgspec.Struct, frozen=True):
    """PostHog's query response: ``results`` in the kind's shape, plus how it was computed."""

    # Trends: one entry per series; funnels: the steps, or one list of steps per breakdown value.
    results: list[Any]
    timings: list[TimingEntry]
    resolved_date_range: ResolvedDateRange
    timezone: str
    # Whether ingest's hourly rollup served the numbers (instead of scanning events).
    served_by_rollup: bool
    is_cached: bool = False


class InsightsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A project's insights settings: the IANA time zone of its day boundaries and the first
    day of its weeks (0 Sunday, PostHog's default; 1 Monday)."""

    timezone: str = "UTC"
    week_start_day: int = 0
