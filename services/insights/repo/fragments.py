"""Fixed SQL fragments the query statements are composed from.

Property filters mean what the flags engine's operators mean (``devflow_sdk.flags``) with
complete data: a property is compared as text (a string as itself, anything else as its JSON
text: ``true``, ``1.5``, ``null``); a missing property matches no operator but ``is_not_set``
(so ``is_not`` and ``not_icontains`` need the property); ``exact`` is case-insensitive, and a
boolean-like filter value (``true``/``"false"``) compares truthiness; numbers are JSON numbers
or strictly numeric strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.insights.repo import Params

EVENTS = "analytics.events_v1 e"
# Events stored before a merge name the merged-away person; the merge names the survivor
# (ingest re-points earlier merges, so one hop is enough).
MERGES = (
    "LEFT JOIN analytics.person_merges_v1 pm"
    " ON pm.project_id = e.project_id AND pm.source_person_id = e.person_id"
)
PERSON = "COALESCE(pm.target_person_id, e.person_id)"
# PostHog's label for the values past the breakdown limit, and for a missing/null value.
OTHER = "$$_posthog_breakdown_other_$$"
NULL = "$$_posthog_breakdown_null_$$"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
TEXT_OPERATORS = ("icontains", "not_icontains", "regex", "not_regex")
OPERATORS = frozenset(("exact", "is_not", "is_set", "is_not_set", *TEXT_OPERATORS, *_COMPARISONS))


def text(q: Params, key: str) -> str:
    """A property as the text the operators compare (NULL when missing)."""
    k = q(key)
    return (
        f"(CASE WHEN jsonb_typeof(e.properties -> {k}) = 'string'"
        f" THEN e.properties ->> {k} ELSE (e.properties -> {k})::text END)"
    )


def number(q: Params, key: str) -> str:
    """A property as a number: a JSON number or a strictly numeric string, else NULL."""
    k = q(key)
    return (
        f"(CASE WHEN jsonb_typeof(e.properties -> {k}) = 'number'"
        f" THEN (e.properties ->> {k})::float8"
        f" WHEN jsonb_typeof(e.properties -> {k}) = 'string'"
        f" AND e.properties ->> {k} ~ {q(_NUMBER)} THEN (e.properties ->> {k})::float8 END)"
    )


def _is_boolean_like(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_boolean_like(v) for v in value)
    return isinstance(value, bool) or (
        isinstance(value, str) and value.lower() in ("true", "false")
    )


def _is_true_like(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_true_like(v) for v in value)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def condition(q: Params, key: str, operator: str, value: Any) -> str:
    """One property filter as a boolean SQL expression (operator already validated)."""
    present = f"(e.properties ? {q(key)})"
    if operator == "is_set":
        return present
    if operator == "is_not_set":
        return f"(NOT {present})"
    negate = operator in ("is_not", "not_icontains", "not_regex")
    t = text(q, key)
    if operator in ("exact", "is_not"):
        if _is_boolean_like(value):
            # A list of them too: it asks for "true" only when every item is true-like.
            wanted = _is_true_like(value)
            test = f"((lower({t}) = 'true') = {q(wanted)})"
        else:
            values = value if isinstance(value, list) else [value]
            test = f"(lower({t}) = ANY({q([_as_text(v).lower() for v in values])}))"
    elif operator in ("icontains", "not_icontains"):
        test = f"(strpos(lower({t}), {q(_as_text(value).lower())}) > 0)"
    elif operator in ("regex", "not_regex"):
        test = f"({t} ~ {q(_as_text(value))})"
    else:
        test = f"({number(q, key)} {_COMPARISONS[operator]} {q(float(value))})"
    return f"({present} AND {'NOT ' if negate else ''}COALESCE({test}, false))"


def aggregate(q: Params, math: str, prop: str | None) -> str:
    """The aggregate of one series' math over its events."""
    if math == "total":
        return "count(*)::float8"
    if math in ("dau", "unique_persons"):
        return f"count(DISTINCT {PERSON})::float8"
    assert prop is not None
    n = number(q, prop)
    if math in ("sum", "avg", "min", "max"):
        return f"COALESCE({math}({n}), 0)::float8"
    fraction = {"median": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}[math]
    return f"COALESCE(percentile_cont({q(fraction)}) WITHIN GROUP (ORDER BY {n}), 0)::float8"
