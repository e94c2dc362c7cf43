"""Property filters compiled into predicates.

Each filter becomes one closure with its filter value already parsed (lower-cased text, a set of
candidates, a float, a date resolver, a compiled regex, version bounds). The order of checks is
PostHog's, because it decides which failures are inconclusive: an unknown operator first, then a
missing property, then (for most operators) a null property, then the filter value, then the
property value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from . import _dates
from ._regex import Deferred, Pattern
from ._types import MISSING_CONTEXT, UNSUPPORTED_DEFINITION, Context, Inconclusive, Predicate
from ._values import (
    as_text,
    ascii_lower,
    is_boolean_like,
    is_true_like,
    parse_number,
    parse_version,
    version_range,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

EQUALITY_OPERATORS: Final = ("exact", "is_not", "is_set", "is_not_set")
TEXT_OPERATORS: Final = (
    "icontains",
    "not_icontains",
    "starts_with",
    "not_starts_with",
    "ends_with",
    "not_ends_with",
)
REGEX_OPERATORS: Final = ("regex", "not_regex")
NUMERIC_OPERATORS: Final = ("gt", "gte", "lt", "lte")
DATE_OPERATORS: Final = ("is_date_before", "is_date_after")
SEMVER_COMPARISONS: Final = (
    "semver_eq",
    "semver_neq",
    "semver_gt",
    "semver_gte",
    "semver_lt",
    "semver_lte",
)
SEMVER_RANGES: Final = ("semver_tilde", "semver_caret", "semver_wildcard")
PROPERTY_OPERATORS: Final = frozenset(
    EQUALITY_OPERATORS
    + TEXT_OPERATORS
    + REGEX_OPERATORS
    + NUMERIC_OPERATORS
    + DATE_OPERATORS
    + SEMVER_COMPARISONS
    + SEMVER_RANGES
)

_MISSING: Final[Any] = object()
# List properties DevFlow defines, matched element by element by ``exact`` (any element equals
# a value) and ``is_not`` (none does). Other list properties compare as their JSON text, as
# PostHog compares them.
LIST_PROPERTIES: Final = frozenset({"$entitlements"})


def _absent(ev: Context, key: Any, is_not_set: bool) -> bool:
    """A property the caller did not pass: "not set" with complete data, else inconclusive."""
    if ev.complete:
        return is_not_set
    raise Inconclusive(f"property {key!r} was not passed", MISSING_CONTEXT)


def _text_of(value: Any, ev: Context) -> str | None:
    """The property as text, or None (complete data) when it has no JSON form."""
    try:
        return as_text(value, MISSING_CONTEXT)
    except Inconclusive:
        if ev.complete:
            return None
        raise


def _bad_filter(key: Any, why: str) -> Predicate:
    """A filter whose value local evaluation cannot use: inconclusive once the property is
    there (a missing property is reported first), never a match with complete data."""

    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        if key not in props and not ev.complete:
            raise Inconclusive(f"property {key!r} was not passed", MISSING_CONTEXT)
        return ev.undecided(why, UNSUPPORTED_DEFINITION)

    return predicate


def compile_property(prop: Mapping[str, Any], matching_version: int = 1) -> Predicate:
    """One person or group property filter (``{"key", "operator", "value"}``)."""
    key = prop.get("key")
    operator = prop.get("operator") or "exact"
    value = prop.get("value")
    if not isinstance(operator, str) or operator not in PROPERTY_OPERATORS:
        why = f"unknown operator {operator!r}"

        def unknown(props: Mapping[Any, Any], ev: Context) -> bool:
            return ev.undecided(why, UNSUPPORTED_DEFINITION)

        return unknown
    if operator in ("is_set", "is_not_set"):
        return _presence(key, operator == "is_set")
    if operator in ("exact", "is_not"):
        return _exact(key, value, operator == "is_not", matching_version)
    if operator in TEXT_OPERATORS:
        return _text(key, operator, value)
    if operator in REGEX_OPERATORS:
        return _regex(key, value, operator == "not_regex")
    if operator in NUMERIC_OPERATORS:
        return _numeric(key, operator, value)
    if operator in DATE_OPERATORS:
        return _date(key, operator == "is_date_before", value)
    return _semver(key, operator, value)


def _presence(key: Any, is_set: bool) -> Predicate:
    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        if key in props:
            return is_set
        return _absent(ev, key, not is_set)

    return predicate


def _exact(key: Any, value: Any, negate: bool, matching_version: int) -> Predicate:
    if value == []:
        # An empty list asks whether the property is true (recursively, for lists).
        def truthy(props: Mapping[Any, Any], ev: Context) -> bool:
            v = props.get(key, _MISSING)
            if v is _MISSING:
                return _absent(ev, key, False)
            if _text_of(v, ev) is None:
                return False
            return is_true_like(v) is not negate

        return truthy
    if matching_version != 2 and is_boolean_like(value):
        # true/false filters compare truthiness: "false" matches anything that is not true.
        wanted = is_true_like(value)

        def boolean(props: Mapping[Any, Any], ev: Context) -> bool:
            v = props.get(key, _MISSING)
            if v is _MISSING:
                return _absent(ev, key, False)
            t = type(v)
            if t is bool:
                return (v is wanted) is not negate
            if t is str:
                return ((v.lower() == "true") is wanted) is not negate
            if _text_of(v, ev) is None:
                return False
            return (is_true_like(v) is wanted) is not negate

        return boolean
    try:
        if isinstance(value, list):
            targets = frozenset(as_text(c, UNSUPPORTED_DEFINITION).lower() for c in value)
        else:
            targets = frozenset((as_text(value, UNSUPPORTED_DEFINITION).lower(),))
    except Inconclusive as exc:
        return _after_property_text(key, str(exc))
    if len(targets) == 1:
        (target,) = targets

        def single(props: Mapping[Any, Any], ev: Context) -> bool:
            v = props.get(key, _MISSING)
            if v is _MISSING:
                return _absent(ev, key, False)
            if type(v) is list and key in LIST_PROPERTIES:
                return _any_element(v, frozenset((target,))) is not negate
            if type(v) is not str:
                v = _text_of(v, ev)
                if v is None:
                    return False
            return (v.lower() == target) is not negate

        return single

    def several(props: Mapping[Any, Any], ev: Context) -> bool:
        v = props.get(key, _MISSING)
        if v is _MISSING:
            return _absent(ev, key, False)
        if type(v) is list and key in LIST_PROPERTIES:
            return _any_element(v, targets) is not negate
        if type(v) is not str:
            v = _text_of(v, ev)
            if v is None:
                return False
        return (v.lower() in targets) is not negate

    return several


def _any_element(values: list[Any], targets: frozenset[str]) -> bool:
    """Whether any element's text (case-insensitive) is one of ``targets``."""
    for item in values:
        try:
            text = as_text(item, MISSING_CONTEXT)
        except Inconclusive:
            continue
        if text.lower() in targets:
            return True
    return False


def _after_property_text(key: Any, why: str) -> Predicate:
    """A filter value with no text form: the property's own text is checked first."""

    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        v = props.get(key, _MISSING)
        if v is _MISSING:
            return _absent(ev, key, False)
        if _text_of(v, ev) is None:
            return False
        return ev.undecided(why, UNSUPPORTED_DEFINITION)

    return predicate


def _text(key: Any, operator: str, value: Any) -> Predicate:
    try:
        needle = ascii_lower(as_text(value, UNSUPPORTED_DEFINITION))
    except Inconclusive as exc:
        return _after_property_text(key, str(exc))
    negate = operator.startswith("not_")
    kind = operator.removeprefix("not_")

    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        v = props.get(key, _MISSING)
        if v is _MISSING:
            return _absent(ev, key, False)
        if type(v) is not str:
            v = _text_of(v, ev)
            if v is None:
                return False
        hay = v.lower() if v.isascii() else ascii_lower(v)
        if kind == "icontains":
            found = needle in hay
        elif kind == "starts_with":
            found = hay.startswith(needle)
        else:
            found = hay.endswith(needle)
        return found is not negate

    return predicate


def _regex(key: Any, value: Any, negate: bool) -> Predicate:
    source = str(value)
    if source == "":

        def everything(props: Mapping[Any, Any], ev: Context) -> bool:
            v = props.get(key, _MISSING)
            if v is _MISSING:
                return _absent(ev, key, False)
            return _text_of(v, ev) is not None and not negate

        return everything
    try:
        pattern: Pattern | None = Pattern(source)
        deferred = ""
    except Deferred as exc:
        pattern, deferred = None, str(exc)
    fallback = _python_regex(source) if pattern is None else None

    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        v = props.get(key, _MISSING)
        if v is _MISSING:
            return _absent(ev, key, False)
        text = _text_of(v, ev)
        if text is None:
            return False
        if pattern is None:
            # Only the service's engine can say; with complete data, Python's is close enough.
            if not ev.complete:
                raise Inconclusive(f"regex {source!r}: {deferred}", UNSUPPORTED_DEFINITION)
            return fallback is not None and (fallback.search(text) is not None) is not negate
        if pattern.regex is None:
            return False  # a pattern no engine compiles matches nothing, negated or not
        if not ev.complete:
            try:
                pattern.check_subject(text)
            except Deferred as exc:
                raise Inconclusive(f"regex {source!r}: {exc}", UNSUPPORTED_DEFINITION) from None
        return (pattern.regex.search(text) is not None) is not negate

    return predicate


def _python_regex(source: str) -> re.Pattern[str] | None:
    try:
        return re.compile(source)
    except Exception:  # an unusable pattern simply never matches
        return None


def _numeric(key: Any, operator: str, value: Any) -> Predicate:
    bound = parse_number(value)
    if bound is None:
        return _bad_filter(key, f"{value!r} is not a finite number")

    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        v = props.get(key, _MISSING)
        if v is _MISSING:
            return _absent(ev, key, False)
        t = type(v)
        n: float | None
        if t is float:
            n = v if v - v == 0 else None
        elif t is int:
            n = parse_number(v)
        else:
            n = parse_number(v)
        if n is None:
            return False
        if operator == "gt":
            return n > bound
        if operator == "gte":
            return n >= bound
        if operator == "lt":
            return n < bound
        return n <= bound

    return predicate


def _date(key: Any, before: bool, value: Any) -> Predicate:
    resolve = _dates.compile_date_filter(value)
    why = f"{value!r} is not a date"

    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        v = props.get(key, _MISSING)
        if v is _MISSING:
            return _absent(ev, key, False)
        if v is None:
            return False
        moment = resolve(ev.now()) if resolve is not None else None
        if moment is None:
            return ev.undecided(why, UNSUPPORTED_DEFINITION)
        result = _dates.compare(before, v, moment)
        if result is None:
            return ev.undecided(f"property {key!r} is not a date", MISSING_CONTEXT)
        return result

    return predicate


def _semver(key: Any, operator: str, value: Any) -> Predicate:
    try:
        if operator in SEMVER_RANGES:
            lower, upper = version_range(operator, value)
        else:
            lower = upper = parse_version(value)
    except (ValueError, TypeError):
        bad = f"{value!r} is not a version for {operator}"

        def invalid(props: Mapping[Any, Any], ev: Context) -> bool:
            v = props.get(key, _MISSING)
            if v is _MISSING:
                return _absent(ev, key, False)
            if v is None:
                return False
            return ev.undecided(bad, UNSUPPORTED_DEFINITION)

        return invalid

    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        v = props.get(key, _MISSING)
        if v is _MISSING:
            return _absent(ev, key, False)
        if v is None:
            return False
        try:
            version = parse_version(v)
        except (ValueError, TypeError):
            return ev.undecided(f"property {key!r} is not a version", MISSING_CONTEXT)
        if operator in SEMVER_RANGES:
            return lower <= version < upper
        if operator == "semver_eq":
            return version == lower
        if operator == "semver_neq":
            return version != lower
        if operator == "semver_gt":
            return version > lower
        if operator == "semver_gte":
            return version >= lower
        if operator == "semver_lt":
            return version < lower
        return version <= lower

    return predicate
