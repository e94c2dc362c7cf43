"""Every property operator, with PostHog's edge cases, locally and with complete data.

Each local case is also checked against posthog-python's ``match_property``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from devflow_sdk.flags import FlagSet
from posthog.feature_flags import InconclusiveMatchError, match_property

INC = "inconclusive"


def _evaluate(prop: dict[str, Any], props: dict[str, Any], complete: bool = False) -> Any:
    flags = FlagSet(
        [
            {
                "key": "f",
                "active": True,
                "filters": {"groups": [{"properties": [prop], "rollout_percentage": 100}]},
            }
        ]
    )
    result = flags.evaluate("f", "someone", person_properties=props, complete=complete)
    assert result is not None
    assert result.reason != "error", result
    return INC if result.inconclusive else result.enabled


def _posthog(prop: dict[str, Any], props: dict[str, Any]) -> Any:
    try:
        return match_property(prop, props)
    except InconclusiveMatchError:
        return INC


def _case(operator: str, value: Any, prop_value: Any, expected: Any) -> Any:
    return pytest.param(
        operator, value, prop_value, expected, id=f"{operator}-{value!r}-{prop_value!r}"
    )


MISSING = object()

CASES = [
    # exact / is_not: case-insensitive text, lists mean "in", JSON rendering of non-strings.
    _case("exact", "pro", "PRO", True),
    _case("exact", "pro", "pro ", False),
    _case("exact", ["a", "b"], "B", True),
    _case("exact", ["a", "b"], "c", False),
    _case("exact", 5, "5", True),
    _case("exact", "5", 5, True),
    _case("exact", "5.0", 5, False),
    _case("exact", 1.5, "1.5", True),
    _case("exact", "null", None, True),
    _case("exact", "émile", "ÉMILE", True),
    _case("exact", '["a",1]', ["a", 1], True),
    _case("exact", '{"a":1,"b":true}', {"b": True, "a": 1}, True),
    _case("exact", "x", math.nan, INC),
    _case("exact", "x", datetime(2024, 1, 1, tzinfo=UTC), INC),
    # true/false filters compare truthiness: "false" matches anything that is not true.
    _case("exact", "true", True, True),
    _case("exact", "true", "TRUE", True),
    _case("exact", True, "true", True),
    _case("exact", "false", "no", True),
    _case("exact", "false", None, True),
    _case("exact", "false", 0, True),
    _case("exact", ["true"], True, True),
    _case("exact", [], True, True),
    _case("exact", [], "x", False),
    _case("is_not", "free", "FREE", False),
    _case("is_not", "free", "pro", True),
    _case("is_not", ["a", "b"], "c", True),
    _case("is_not", "x", None, True),
    _case("is_not", "false", "true", True),
    # is_set / is_not_set: a missing property is inconclusive locally.
    _case("is_set", None, "anything", True),
    _case("is_set", None, None, True),
    _case("is_set", None, MISSING, INC),
    _case("is_not_set", None, "x", False),
    _case("is_not_set", None, MISSING, INC),
    # icontains and friends: ASCII-only case folding, non-strings rendered as JSON.
    _case("icontains", "EXAMPLE", "me@example.com", True),
    _case("icontains", "é", "É", False),
    _case("icontains", "ul", None, True),
    _case("icontains", "1", 10, True),
    _case("icontains", "true", True, True),
    _case("not_icontains", "example", "me@example.com", False),
    _case("not_icontains", "x", "abc", True),
    _case("starts_with", "ab", "ABC", True),
    _case("not_starts_with", "ab", "ABC", False),
    _case("ends_with", ".COM", "a.com", True),
    _case("not_ends_with", ".com", "a.fr", True),
    # regex: Python syntax shared with the Rust service; an invalid pattern never matches.
    _case("regex", "^a.c$", "abc", True),
    _case("regex", "^a.c$", "ABC", False),
    _case("regex", "[0-9]+", 42, True),
    _case("regex", "([", "x", False),
    _case("not_regex", "([", "x", False),
    _case("not_regex", "^a", "abc", False),
    _case("not_regex", "^a", "bcd", True),
    _case("regex", "", "anything", True),
    _case("regex", "e$", "line\n", False),
    _case("regex", "\\bword", "a word", INC),
    _case("regex", "(?i)abc", "ABC", INC),
    _case("regex", "a+$", "aaa\n", INC),
    _case("regex", "\\w+", "e\u0301", INC),
    _case("regex", "null", None, True),
    # Numbers: parsed strictly; a non-numeric filter is inconclusive, a non-numeric property
    # simply does not match.
    _case("gt", 10, 11, True),
    _case("gt", 10, "11", True),
    _case("gt", "10", 9.5, False),
    _case("gt", 10, "abc", False),
    _case("gt", 10, " 11", False),
    _case("gt", 10, True, False),
    _case("gt", 10, None, False),
    _case("gt", 10, math.inf, False),
    _case("gt", "abc", 11, INC),
    _case("gt", True, 11, INC),
    _case("gte", 10, 10, True),
    _case("gte", "4.2e1", "42", True),
    _case("lt", 10, "9", True),
    _case("lt", 10, 10, False),
    _case("lte", 10, 10.0, True),
    _case("lte", -1, ".5", False),
    # Dates: absolute or relative filters; unusable property dates are inconclusive.
    _case("is_date_before", "2024-01-01", "2023-12-31", True),
    _case("is_date_before", "2024-01-01", "2024-01-01T00:00:01Z", False),
    _case("is_date_before", "2024-01-01T00:00:00Z", "2023-12-31T23:00:00-02:00", False),
    _case("is_date_before", "2024-01-01", "2023-12-31 23:59:59 UTC", True),
    _case("is_date_before", "2024-01-01", date(2023, 6, 1), True),
    _case("is_date_before", "2024-01-01", datetime(2024, 6, 1), False),
    _case("is_date_after", "-7d", datetime.now(UTC) - timedelta(days=1), True),
    _case("is_date_after", "-7d", datetime.now(UTC) - timedelta(days=8), False),
    _case("is_date_after", "2w", (datetime.now(UTC) - timedelta(days=13)).isoformat(), True),
    _case("is_date_after", "1h", (datetime.now(UTC) - timedelta(minutes=30)).isoformat(), True),
    _case("is_date_before", "-1m", (datetime.now(UTC) - timedelta(days=40)).isoformat(), True),
    _case("is_date_before", "1y", (datetime.now(UTC) - timedelta(days=300)).isoformat(), False),
    _case("is_date_before", "2024-01-01", None, False),
    _case("is_date_before", "2024-01-01", "not a date", INC),
    _case("is_date_before", "2024-01-01", 1700000000, INC),
    _case("is_date_before", "not a date", "2023-01-01", INC),
    _case("is_date_before", "10000d", "2023-01-01", INC),
    _case("is_date_before", "3000y", "2023-01-01", INC),
    # Semantic versions.
    _case("semver_eq", "1.2.3", "v1.2.3", True),
    _case("semver_eq", "1.2", "1.2.0-beta", True),
    _case("semver_gt", "1.2.3", "1.10.0", True),
    _case("semver_lte", "1.2.3", "1.2.4", False),
    _case("semver_tilde", "1.2.0", "1.2.9", True),
    _case("semver_tilde", "1.2.0", "1.3.0", False),
    _case("semver_caret", "0.2.3", "0.2.9", True),
    _case("semver_caret", "0.2.3", "0.3.0", False),
    _case("semver_wildcard", "1.*", "1.99.0", True),
    _case("semver_wildcard", "1.2.*", "1.3.0", False),
    _case("semver_eq", "1.2.3", "01.2.3", INC),
    _case("semver_eq", "garbage", "1.2.3", INC),
    _case("semver_eq", "1.2.3", None, False),
]


@pytest.mark.parametrize(("operator", "value", "prop_value", "expected"), CASES)
def test_operator_locally(operator: str, value: Any, prop_value: Any, expected: Any) -> None:
    prop = {"key": "p", "type": "person", "operator": operator, "value": value}
    props = {} if prop_value is MISSING else {"p": prop_value}
    assert _evaluate(prop, props) == expected
    assert _posthog(prop, props) == expected


def test_unknown_operator_is_inconclusive_locally_and_false_with_complete_data() -> None:
    prop = {"key": "p", "type": "person", "operator": "is_cool", "value": "x"}
    assert _evaluate(prop, {"p": "x"}) == INC
    assert _evaluate(prop, {"p": "x"}, complete=True) is False


def test_missing_operator_means_exact() -> None:
    assert _evaluate({"key": "p", "value": "x"}, {"p": "X"}) is True


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("exact", "x", False),
        ("is_not", "x", False),
        ("is_set", None, False),
        ("is_not_set", None, True),
        ("icontains", "x", False),
        ("not_icontains", "x", False),
        ("regex", ".*", False),
        ("gt", 1, False),
        ("is_date_before", "2024-01-01", False),
        ("semver_eq", "1.0.0", False),
    ],
)
def test_missing_property_with_complete_data_is_not_set(
    operator: str, value: Any, expected: bool
) -> None:
    prop = {"key": "p", "type": "person", "operator": operator, "value": value}
    assert _evaluate(prop, {}) == INC
    assert _evaluate(prop, {}, complete=True) is expected


def test_undecidable_values_do_not_match_with_complete_data() -> None:
    regex = {"key": "p", "operator": "regex", "value": "\\bword"}
    assert _evaluate(regex, {"p": "a word"}, complete=True) is True
    assert _evaluate(regex, {"p": "sword"}, complete=True) is False
    bad_date = {"key": "p", "operator": "is_date_before", "value": "2024-01-01"}
    assert _evaluate(bad_date, {"p": "soon"}, complete=True) is False
    bad_filter = {"key": "p", "operator": "gt", "value": "many"}
    assert _evaluate(bad_filter, {"p": 3}, complete=True) is False
    assert _evaluate({"key": "p", "value": "x"}, {"p": math.nan}, complete=True) is False


def test_flag_level_negation_is_ignored_like_posthog() -> None:
    # PostHog applies "negation" inside cohorts only.
    prop = {"key": "p", "operator": "exact", "value": "x", "negation": True}
    assert _evaluate(prop, {"p": "x"}) is True
    assert _posthog(prop, {"p": "x"}) is True


def test_property_matching_version_2_compares_booleans_as_text() -> None:
    flag = {
        "key": "f",
        "active": True,
        "filters": {"groups": [{"properties": [{"key": "p", "value": "false"}]}]},
    }
    v1 = FlagSet([flag])
    v2 = FlagSet.from_definitions({"flags": [flag], "property_matching_version": 2})
    for value, in_v1, in_v2 in [("no", True, False), ("FALSE", True, True), (False, True, True)]:
        r1, r2 = (
            v1.evaluate("f", "u", person_properties={"p": value}),
            v2.evaluate("f", "u", person_properties={"p": value}),
        )
        assert r1 is not None
        assert r2 is not None
        assert (r1.enabled, r2.enabled) == (in_v1, in_v2), value


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("exact", "sso", True),
        ("exact", "SSO", True),
        ("exact", ["sso", "scim"], True),
        ("exact", "scim", False),
        ("is_not", "sso", False),
        ("is_not", "scim", True),
    ],
)
def test_entitlements_match_element_by_element(operator: str, value: Any, expected: bool) -> None:
    # DevFlow's own list property: any element matches. Other lists keep PostHog's JSON-text
    # comparison (posthog-python agrees on "tags" below, not on $entitlements).
    prop = {"key": "$entitlements", "operator": operator, "value": value}
    assert _evaluate(prop, {"$entitlements": ["audit_log", "sso"]}) is expected
    tags = {"key": "tags", "operator": operator, "value": value}
    assert _evaluate(tags, {"tags": ["audit_log", "sso"]}) == _posthog(
        tags, {"tags": ["audit_log", "sso"]}
    )
