"""Validation of flag and cohort definitions as the admin API receives them.

Every problem is reported (not just the first) with a dotted path into the body, e.g.
``filters.groups[0].properties[1].operator``. Validation never raises, whatever it is given.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from ._dates import compile_date_filter
from ._operators import (
    DATE_OPERATORS,
    NUMERIC_OPERATORS,
    PROPERTY_OPERATORS,
    REGEX_OPERATORS,
    SEMVER_COMPARISONS,
    SEMVER_RANGES,
    TEXT_OPERATORS,
)
from ._regex import Deferred, Pattern
from ._types import DefinitionError
from ._values import parse_number, parse_version, version_range

KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_KEY_LENGTH: Final = 400
MAX_GROUP_TYPE_INDEX: Final = 4  # PostHog allows five group types, 0-4
PROPERTY_TYPES: Final = ("person", "group", "cohort", "flag")
COHORT_OPERATORS: Final = ("exact", "in", "not_in")
_VALUELESS: Final = ("is_set", "is_not_set")


class _Report:
    def __init__(self) -> None:
        self.errors: list[DefinitionError] = []

    def add(self, path: str, reason: str) -> None:
        self.errors.append(DefinitionError(path=path, reason=reason))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    """A number (not a boolean) that is finite as a float."""
    if not _is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _is_finite(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _expect(report: _Report, path: str, value: Any, what: str, ok: bool) -> bool:
    if not ok:
        report.add(path, f"expected {what}, got {_type_name(value)}")
    return ok


def _group_type_index(report: _Report, path: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        report.add(path, f"expected a group type index (integer), got {_type_name(value)}")
    elif not 0 <= value <= MAX_GROUP_TYPE_INDEX:
        report.add(path, f"group type index must be between 0 and {MAX_GROUP_TYPE_INDEX}")


def validate_flag(flag: Mapping[str, Any]) -> list[DefinitionError]:
    """Problems in a flag definition (``key``, ``name``, ``active``, ``filters``...); empty when
    it is valid."""
    report = _Report()
    try:
        _flag(report, flag)
    except Exception as exc:  # validation must never raise
        report.add("", f"unreadable definition: {exc!r}")
    return report.errors


def _flag(report: _Report, flag: Any) -> None:
    if not isinstance(flag, Mapping):
        report.add("", f"expected an object, got {_type_name(flag)}")
        return
    key = flag.get("key")
    if key is None:
        report.add("key", "a flag key is required")
    elif _expect(report, "key", key, "a string", isinstance(key, str)):
        if not key or KEY_PATTERN.fullmatch(key) is None:
            report.add("key", "only letters, digits, '-', '_' and '.' are allowed")
        elif len(key) > MAX_KEY_LENGTH:
            report.add("key", f"at most {MAX_KEY_LENGTH} characters")
    if "name" in flag:
        _expect(report, "name", flag["name"], "a string", isinstance(flag["name"], str))
    for field in ("active", "ensure_experience_continuity", "deleted"):
        if field in flag:
            _expect(report, field, flag[field], "a boolean", isinstance(flag[field], bool))
    filters = flag.get("filters")
    if filters is None:
        return
    if _expect(report, "filters", filters, "an object", isinstance(filters, Mapping)):
        _filters(report, filters)


def _filters(report: _Report, filters: Mapping[str, Any]) -> None:
    _group_type_index(
        report, "filters.aggregation_group_type_index", filters.get("aggregation_group_type_index")
    )
    variants = _multivariate(report, filters.get("multivariate"))
    groups = filters.get("groups")
    if groups is not None and _expect(
        report, "filters.groups", groups, "a list", isinstance(groups, list)
    ):
        for i, group in enumerate(groups):
            _condition(report, f"filters.groups[{i}]", group, variants)
    _payloads(report, filters.get("payloads"), variants)
    for field in ("early_exit", "feature_enrollment"):
        value = filters.get(field)
        if value is not None:
            _expect(report, f"filters.{field}", value, "a boolean", isinstance(value, bool))
    identifier = filters.get("bucketing_identifier")
    if identifier is not None and identifier not in ("distinct_id", "device_id"):
        report.add("filters.bucketing_identifier", "expected 'distinct_id' or 'device_id'")
    holdout = filters.get("holdout")
    if holdout is not None and _expect(
        report, "filters.holdout", holdout, "an object", isinstance(holdout, Mapping)
    ):
        _percentage(
            report, "filters.holdout.exclusion_percentage", holdout.get("exclusion_percentage")
        )


def _percentage(report: _Report, path: str, value: Any, required: bool = False) -> None:
    if value is None:
        if required:
            report.add(path, "a percentage is required")
        return
    if not _is_finite(value):
        report.add(path, f"expected a number between 0 and 100, got {_type_name(value)}")
    elif not 0 <= value <= 100:
        report.add(path, "must be between 0 and 100")


def _multivariate(report: _Report, multivariate: Any) -> list[str] | None:
    """The variant keys, or None for a boolean flag."""
    path = "filters.multivariate"
    if multivariate is None:
        return None
    if not _expect(report, path, multivariate, "an object", isinstance(multivariate, Mapping)):
        return None
    variants = multivariate.get("variants")
    path += ".variants"
    if not _expect(report, path, variants, "a list", isinstance(variants, list)):
        return []
    if not variants:
        report.add(path, "a multivariate flag needs at least one variant")
        return []
    keys: list[str] = []
    total = 0.0
    totals_known = True
    for i, variant in enumerate(variants):
        at = f"{path}[{i}]"
        if not _expect(report, at, variant, "an object", isinstance(variant, Mapping)):
            totals_known = False
            continue
        key = variant.get("key")
        if not isinstance(key, str) or not key:
            report.add(f"{at}.key", "a variant needs a non-empty string key")
        elif key in keys:
            report.add(f"{at}.key", f"duplicate variant key {key!r}")
        else:
            keys.append(key)
        if "name" in variant and variant["name"] is not None:
            _expect(
                report, f"{at}.name", variant["name"], "a string", isinstance(variant["name"], str)
            )
        share = variant.get("rollout_percentage")
        _percentage(report, f"{at}.rollout_percentage", share, required=True)
        if _is_finite(share):
            total += share
        else:
            totals_known = False
    if totals_known and abs(total - 100) > 1e-9:
        report.add(path, f"variant rollout percentages must sum to 100, not {total:g}")
    return keys


def _condition(report: _Report, path: str, group: Any, variants: list[str] | None) -> None:
    if not _expect(report, path, group, "an object", isinstance(group, Mapping)):
        return
    props = group.get("properties")
    if props is not None and _expect(
        report, f"{path}.properties", props, "a list", isinstance(props, list)
    ):
        for i, prop in enumerate(props):
            _property(report, f"{path}.properties[{i}]", prop, PROPERTY_TYPES)
    _percentage(report, f"{path}.rollout_percentage", group.get("rollout_percentage"))
    override = group.get("variant")
    if override is not None:
        if not isinstance(override, str):
            report.add(f"{path}.variant", f"expected a variant key, got {_type_name(override)}")
        elif variants is None or override not in variants:
            report.add(f"{path}.variant", f"{override!r} is not a variant of this flag")
    _group_type_index(
        report, f"{path}.aggregation_group_type_index", group.get("aggregation_group_type_index")
    )


def _payloads(report: _Report, payloads: Any, variants: list[str] | None) -> None:
    if payloads is None:
        return
    if not _expect(
        report, "filters.payloads", payloads, "an object", isinstance(payloads, Mapping)
    ):
        return
    allowed = {"true"} if variants is None else {"true", *variants}
    for name, payload in payloads.items():
        at = f"filters.payloads.{name}"
        if name not in allowed:
            report.add(at, f"{name!r} is not a variant of this flag (nor 'true')")
        if isinstance(payload, str):
            try:
                json.loads(payload)
            except ValueError:
                report.add(at, "a payload given as a string must be valid JSON")
        elif payload is not None and not isinstance(payload, bool | int | float | list | Mapping):
            report.add(at, f"expected a JSON value, got {_type_name(payload)}")


def _property(report: _Report, path: str, prop: Any, types: tuple[str, ...]) -> None:
    if not _expect(report, path, prop, "an object", isinstance(prop, Mapping)):
        return
    kind = prop.get("type", "person")
    if kind not in types:
        report.add(
            f"{path}.type", f"unknown property type {kind!r}; expected one of {', '.join(types)}"
        )
        return
    if "negation" in prop and prop["negation"] is not None:
        _expect(
            report,
            f"{path}.negation",
            prop["negation"],
            "a boolean",
            isinstance(prop["negation"], bool),
        )
    key = prop.get("key")
    if not isinstance(key, str) or not key:
        report.add(f"{path}.key", f"expected a non-empty string, got {_type_name(key)}")
    if kind == "cohort":
        _cohort_reference(report, path, prop)
    elif kind == "flag":
        _flag_reference(report, path, prop)
    else:
        if kind == "group" or "group_type_index" in prop:
            if kind == "group" and prop.get("group_type_index") is None:
                report.add(
                    f"{path}.group_type_index", "a group property needs its group type index"
                )
            _group_type_index(report, f"{path}.group_type_index", prop.get("group_type_index"))
        _operator_value(report, path, prop.get("operator") or "exact", prop.get("value"))


def _cohort_reference(report: _Report, path: str, prop: Mapping[str, Any]) -> None:
    operator = prop.get("operator") or "exact"
    if operator not in COHORT_OPERATORS:
        report.add(f"{path}.operator", f"a cohort filter takes {', '.join(COHORT_OPERATORS)}")
    value = prop.get("value")
    is_id = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.isdigit()
    )
    if not is_id:
        report.add(f"{path}.value", f"expected a cohort id, got {_type_name(value)}")


def _flag_reference(report: _Report, path: str, prop: Mapping[str, Any]) -> None:
    if prop.get("operator") != "flag_evaluates_to":
        report.add(f"{path}.operator", "a flag dependency takes the operator 'flag_evaluates_to'")
    value = prop.get("value")
    if not isinstance(value, bool) and not (isinstance(value, str) and value):
        report.add(
            f"{path}.value", f"expected true, false or a variant key, got {_type_name(value)}"
        )


def _operator_value(report: _Report, path: str, operator: Any, value: Any) -> None:
    at_op, at_value = f"{path}.operator", f"{path}.value"
    if not isinstance(operator, str) or operator not in PROPERTY_OPERATORS:
        report.add(at_op, f"unknown operator {operator!r}")
        return
    if operator in _VALUELESS:
        return
    if value is None or value == [] or value == "":
        if not (value == "" and operator in ("exact", "is_not")):
            report.add(at_value, f"the {operator} operator needs a value")
        return
    if operator in ("exact", "is_not"):
        items = value if isinstance(value, list) else [value]
        if not all(_is_scalar(item) for item in items):
            report.add(
                at_value, f"{operator} compares with a string, number, boolean or a list of them"
            )
    elif operator in TEXT_OPERATORS:
        if not _is_scalar(value) or isinstance(value, bool):
            report.add(at_value, f"{operator} takes a string, got {_type_name(value)}")
    elif operator in REGEX_OPERATORS:
        if not isinstance(value, str):
            report.add(at_value, f"{operator} takes a pattern string, got {_type_name(value)}")
        else:
            _pattern(report, at_value, value)
    elif operator in NUMERIC_OPERATORS:
        if isinstance(value, list | Mapping | bool) or parse_number(value) is None:
            report.add(at_value, f"{operator} takes a number, got {value!r}")
    elif operator in DATE_OPERATORS:
        if not isinstance(value, str) or compile_date_filter(value) is None:
            report.add(at_value, f"{operator} takes a date (ISO 8601) or a relative date like -7d")
    elif operator in SEMVER_COMPARISONS + SEMVER_RANGES:
        try:
            if operator in SEMVER_RANGES:
                version_range(operator, value)
            else:
                parse_version(value)
        except (ValueError, TypeError):
            report.add(at_value, f"{operator} takes a version like 1.2.3, got {value!r}")


def _pattern(report: _Report, path: str, source: str) -> None:
    try:
        compiled = Pattern(source)
    except Deferred:
        # Beyond what local evaluation runs, but valid for the server if Python accepts it.
        try:
            re.compile(source)
        except re.error as exc:
            report.add(path, f"invalid regular expression: {exc}")
        return
    if compiled.regex is None:
        try:
            re.compile(source)
        except re.error as exc:
            report.add(path, f"invalid regular expression: {exc}")
        else:
            report.add(path, "invalid regular expression")


def validate_cohort(cohort: Mapping[str, Any]) -> list[DefinitionError]:
    """Problems in a cohort body: ``{"properties": {"type": "AND"|"OR", "values": [...]}}`` for
    a dynamic cohort, ``{"is_static": true}`` for a static one."""
    report = _Report()
    try:
        _cohort(report, cohort)
    except Exception as exc:
        report.add("", f"unreadable definition: {exc!r}")
    return report.errors


def _cohort(report: _Report, cohort: Any) -> None:
    if not _expect(report, "", cohort, "an object", isinstance(cohort, Mapping)):
        return
    if "name" in cohort and cohort["name"] is not None:
        _expect(report, "name", cohort["name"], "a string", isinstance(cohort["name"], str))
    static = cohort.get("is_static", False)
    if not _expect(report, "is_static", static, "a boolean", isinstance(static, bool)):
        return
    props = cohort.get("properties")
    if static:
        if props not in (None, {}) and not (isinstance(props, Mapping) and not props.get("values")):
            report.add("properties", "a static cohort is a list of people, not properties")
        return
    if props is None:
        report.add("properties", "a dynamic cohort needs properties")
        return
    _property_group(report, "properties", props, depth=0)


_MAX_DEPTH: Final = 20


def _property_group(report: _Report, path: str, group: Any, depth: int) -> None:
    if not _expect(report, path, group, "an object", isinstance(group, Mapping)):
        return
    if depth > _MAX_DEPTH:
        report.add(path, f"property groups nest at most {_MAX_DEPTH} deep")
        return
    if group.get("type") not in ("AND", "OR"):
        report.add(f"{path}.type", "expected 'AND' or 'OR'")
    values = group.get("values")
    if not _expect(report, f"{path}.values", values, "a list", isinstance(values, list)):
        return
    for i, entry in enumerate(values):
        at = f"{path}.values[{i}]"
        if isinstance(entry, Mapping) and ("values" in entry or entry.get("type") in ("AND", "OR")):
            _property_group(report, at, entry, depth + 1)
        else:
            _property(report, at, entry, ("person", "cohort", "flag"))
