"""Checks of a decoded query that its types can't express; each failure names the field."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from devflow_sdk.flags._values import parse_number

from schemas.api import FieldError
from services.insights.errors import InvalidQuery
from services.insights.repo.fragments import OPERATORS

if TYPE_CHECKING:
    from schemas.insights import BreakdownFilter, EventsNode, PropertyFilter
    from services.insights.repo.events import Filter

COUNT_MATHS = ("total", "dau", "unique_persons")
PROPERTY_MATHS = ("sum", "avg", "min", "max", "median", "p90", "p95", "p99")
_SCALARS = (str, int, float, bool)


def fail(field: str, why: str) -> InvalidQuery:
    """The 400 naming ``field``."""
    return InvalidQuery(f"{field}: {why}", [FieldError(field, why)])


def unsupported(field: str, value: Any) -> None:
    """Refuse a PostHog key we don't implement when it is set (it would change the numbers)."""
    if value is not None and value != [] and value is not False:
        raise fail(field, "not supported yet")


def filters(items: list[PropertyFilter], at: str) -> list[Filter]:
    """Validated event property filters as (key, operator, value)."""
    out: list[Filter] = []
    for i, f in enumerate(items):
        where = f"{at}[{i}]"
        if f.type != "event":
            raise fail(f"{where}.type", f"{f.type!r} filters are not supported yet (only event)")
        if f.operator not in OPERATORS:
            raise fail(f"{where}.operator", f"unknown operator {f.operator!r}")
        if not f.key:
            raise fail(f"{where}.key", "empty")
        value = f.value
        if f.operator in ("gt", "gte", "lt", "lte"):
            if parse_number(value) is None:
                raise fail(f"{where}.value", "must be a number")
            value = parse_number(value)
        elif f.operator in ("regex", "not_regex"):
            try:
                re.compile(str(value))
            except re.error as exc:
                raise fail(f"{where}.value", f"not a regular expression: {exc}") from None
            if not isinstance(value, str):
                raise fail(f"{where}.value", "must be a string")
        elif f.operator in ("exact", "is_not"):
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, _SCALARS) for v in values):
                raise fail(f"{where}.value", "must be a string, number, boolean or their list")
        elif f.operator in ("icontains", "not_icontains") and not isinstance(value, _SCALARS):
            raise fail(f"{where}.value", "must be a string, number or boolean")
        out.append((f.key, f.operator, value))
    return out


def series_node(node: EventsNode, at: str, *, math: bool) -> None:
    """A series (``math`` allowed) or a funnel step (no math)."""
    unsupported(f"{at}.math_group_type_index", node.math_group_type_index)
    unsupported(f"{at}.math_hogql", node.math_hogql)
    unsupported(f"{at}.fixedProperties", node.fixedProperties)
    unsupported(f"{at}.math_multiplier", node.math_multiplier)
    unsupported(f"{at}.math_property_revenue_currency", node.math_property_revenue_currency)
    unsupported(f"{at}.optionalInFunnel", node.optionalInFunnel)
    if node.event == "":
        raise fail(f"{at}.event", "empty (null means all events)")
    if not math:
        unsupported(f"{at}.math", node.math)
        return
    kind = node.math or "total"
    if kind not in COUNT_MATHS + PROPERTY_MATHS:
        raise fail(f"{at}.math", f"unknown math {kind!r}")
    if kind in PROPERTY_MATHS and not node.math_property:
        raise fail(f"{at}.math_property", f"required with math {kind!r}")


def breakdown(b: BreakdownFilter | None, at: str, default_limit: int) -> tuple[str | None, int]:
    """The breakdown property (None: no breakdown) and how many values to keep."""
    if b is None or b.breakdown is None:
        return None, default_limit
    unsupported(f"{at}.breakdowns", b.breakdowns)
    unsupported(f"{at}.breakdown_histogram_bin_count", b.breakdown_histogram_bin_count)
    unsupported(f"{at}.breakdown_normalize_url", b.breakdown_normalize_url)
    unsupported(f"{at}.breakdown_hide_other_aggregation", b.breakdown_hide_other_aggregation)
    unsupported(f"{at}.breakdown_group_type_index", b.breakdown_group_type_index)
    if (b.breakdown_type or "event") != "event":
        raise fail(f"{at}.breakdown_type", "only event breakdowns are supported yet")
    if not b.breakdown:
        raise fail(f"{at}.breakdown", "empty")
    limit = default_limit if b.breakdown_limit is None else b.breakdown_limit
    if not 1 <= limit <= 1000:
        raise fail(f"{at}.breakdown_limit", "must be 1 to 1000")
    return b.breakdown, limit
