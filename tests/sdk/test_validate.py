"""validate_flag / validate_cohort: one test per class of bad input, with the reported path."""

from __future__ import annotations

import random
from typing import Any

import pytest
from devflow_sdk.flags import DefinitionError, validate_cohort, validate_flag


def _body(**filters: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"groups": [{"properties": [], "rollout_percentage": 100}]}
    return {"key": "my-flag", "name": "My flag", "active": True, "filters": base | filters}


def _with_prop(**prop: Any) -> dict[str, Any]:
    return _body(
        groups=[{"properties": [{"type": "person", "key": "p", **prop}], "rollout_percentage": 50}]
    )


def _paths(errors: list[DefinitionError]) -> list[str]:
    return [e.path for e in errors]


def test_a_valid_flag_has_no_errors() -> None:
    body = _body(
        groups=[
            {
                "properties": [
                    {
                        "key": "email",
                        "type": "person",
                        "operator": "icontains",
                        "value": "@acme.com",
                    },
                    {
                        "key": "signup",
                        "type": "person",
                        "operator": "is_date_after",
                        "value": "-30d",
                    },
                    {"key": "id", "type": "cohort", "value": 4},
                    {"key": "12", "type": "flag", "operator": "flag_evaluates_to", "value": "test"},
                    {
                        "key": "size",
                        "type": "group",
                        "group_type_index": 0,
                        "operator": "gt",
                        "value": "10",
                    },
                ],
                "rollout_percentage": 12.5,
                "variant": "test",
            },
            {"properties": [], "rollout_percentage": None},
        ],
        multivariate={
            "variants": [
                {"key": "control", "rollout_percentage": 33.3},
                {"key": "test", "rollout_percentage": 66.7},
            ]
        },
        payloads={"control": '{"a": 1}', "test": {"b": 2}},
        aggregation_group_type_index=None,
    )
    assert validate_flag(body) == []
    assert validate_flag({"key": "minimal"}) == []


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ({"name": "x"}, "key", "required"),
        ({"key": 5}, "key", "expected a string"),
        ({"key": "has space"}, "key", "letters"),
        ({"key": "ümlaut"}, "key", "letters"),
        ({"key": ""}, "key", "letters"),
        ({"key": "a" * 401}, "key", "at most 400"),
        ({"key": "k", "active": "yes"}, "active", "boolean"),
        ({"key": "k", "name": 3}, "name", "string"),
        ({"key": "k", "filters": []}, "filters", "an object"),
        ({"key": "k", "filters": {"groups": {}}}, "filters.groups", "a list"),
        ({"key": "k", "filters": {"groups": ["x"]}}, "filters.groups[0]", "an object"),
        (_body(groups=[{"properties": {}}]), "filters.groups[0].properties", "a list"),
        (
            _body(groups=[{"rollout_percentage": 101}]),
            "filters.groups[0].rollout_percentage",
            "between 0 and 100",
        ),
        (
            _body(groups=[{"rollout_percentage": -1}]),
            "filters.groups[0].rollout_percentage",
            "between 0 and 100",
        ),
        (
            _body(groups=[{"rollout_percentage": "50"}]),
            "filters.groups[0].rollout_percentage",
            "expected a number",
        ),
        (
            _body(groups=[{"rollout_percentage": True}]),
            "filters.groups[0].rollout_percentage",
            "expected a number",
        ),
        (
            _with_prop(operator="contains", value="x"),
            "filters.groups[0].properties[0].operator",
            "unknown operator",
        ),
        (
            _with_prop(operator="regex", value="(["),
            "filters.groups[0].properties[0].value",
            "invalid regular",
        ),
        (
            _with_prop(operator="regex", value=5),
            "filters.groups[0].properties[0].value",
            "pattern string",
        ),
        (
            _with_prop(operator="gt", value="many"),
            "filters.groups[0].properties[0].value",
            "number",
        ),
        (_with_prop(operator="gt", value=[1]), "filters.groups[0].properties[0].value", "number"),
        (
            _with_prop(operator="icontains", value=["a"]),
            "filters.groups[0].properties[0].value",
            "string",
        ),
        (
            _with_prop(operator="exact", value={"a": 1}),
            "filters.groups[0].properties[0].value",
            "compares with",
        ),
        (_with_prop(operator="exact"), "filters.groups[0].properties[0].value", "needs a value"),
        (
            _with_prop(operator="is_date_before", value="soon"),
            "filters.groups[0].properties[0].value",
            "date",
        ),
        (
            _with_prop(operator="is_date_after", value="10000d"),
            "filters.groups[0].properties[0].value",
            "date",
        ),
        (
            _with_prop(operator="semver_gt", value="one"),
            "filters.groups[0].properties[0].value",
            "version",
        ),
        (
            _with_prop(operator="exact", value="x", negation="no"),
            "filters.groups[0].properties[0].negation",
            "boolean",
        ),
        (
            _with_prop(type="event", value="x"),
            "filters.groups[0].properties[0].type",
            "unknown property type",
        ),
        (
            _with_prop(type="group", value="x"),
            "filters.groups[0].properties[0].group_type_index",
            "group type index",
        ),
        (
            _with_prop(type="group", group_type_index=9, value="x"),
            "filters.groups[0].properties[0].group_type_index",
            "between 0 and 4",
        ),
        (_with_prop(key="", value="x"), "filters.groups[0].properties[0].key", "non-empty"),
        (
            _with_prop(type="cohort", value="abc"),
            "filters.groups[0].properties[0].value",
            "cohort id",
        ),
        (
            _with_prop(type="cohort", value=3, operator="gt"),
            "filters.groups[0].properties[0].operator",
            "cohort filter",
        ),
        (
            _with_prop(type="flag", value=True, operator="exact"),
            "filters.groups[0].properties[0].operator",
            "flag_evaluates_to",
        ),
        (
            _with_prop(type="flag", operator="flag_evaluates_to", value=3),
            "filters.groups[0].properties[0].value",
            "true, false",
        ),
        (
            _body(aggregation_group_type_index="0"),
            "filters.aggregation_group_type_index",
            "integer",
        ),
        (
            _body(aggregation_group_type_index=7),
            "filters.aggregation_group_type_index",
            "between 0 and 4",
        ),
        (
            _body(groups=[{"aggregation_group_type_index": -1}]),
            "filters.groups[0].aggregation_group_type_index",
            "between",
        ),
        (
            _body(
                multivariate={
                    "variants": [
                        {"key": "a", "rollout_percentage": 60},
                        {"key": "b", "rollout_percentage": 30},
                    ]
                }
            ),
            "filters.multivariate.variants",
            "sum to 100",
        ),
        (
            _body(
                multivariate={
                    "variants": [
                        {"key": "a", "rollout_percentage": 50},
                        {"key": "a", "rollout_percentage": 50},
                    ]
                }
            ),
            "filters.multivariate.variants[1].key",
            "duplicate",
        ),
        (
            _body(multivariate={"variants": [{"key": "", "rollout_percentage": 100}]}),
            "filters.multivariate.variants[0].key",
            "non-empty",
        ),
        (
            _body(multivariate={"variants": [{"key": "a"}]}),
            "filters.multivariate.variants[0].rollout_percentage",
            "required",
        ),
        (_body(multivariate={"variants": []}), "filters.multivariate.variants", "at least one"),
        (_body(multivariate={"variants": "ab"}), "filters.multivariate.variants", "a list"),
        (_body(multivariate=[1]), "filters.multivariate", "an object"),
        (
            _body(
                groups=[{"variant": "nope"}],
                multivariate={"variants": [{"key": "a", "rollout_percentage": 100}]},
            ),
            "filters.groups[0].variant",
            "not a variant",
        ),
        (_body(groups=[{"variant": "a"}]), "filters.groups[0].variant", "not a variant"),
        (_body(payloads={"nope": "1"}), "filters.payloads.nope", "not a variant"),
        (_body(payloads={"true": "{not json"}), "filters.payloads.true", "valid JSON"),
        (_body(payloads=[1]), "filters.payloads", "an object"),
        (_body(early_exit="yes"), "filters.early_exit", "boolean"),
        (_body(bucketing_identifier="cookie"), "filters.bucketing_identifier", "device_id"),
        (
            _body(holdout={"id": 1, "exclusion_percentage": 120}),
            "filters.holdout.exclusion_percentage",
            "between",
        ),
    ],
)
def test_each_class_of_bad_input(body: Any, path: str, fragment: str) -> None:
    errors = validate_flag(body)
    matching = [e for e in errors if e.path == path]
    assert matching, f"no error at {path}: {errors}"
    assert any(fragment in e.reason for e in matching), matching


def test_every_problem_is_reported() -> None:
    body = {
        "key": "bad key",
        "active": 1,
        "filters": {
            "groups": [
                {"properties": [{"key": "p", "operator": "nope"}], "rollout_percentage": 150},
                {"properties": [{"key": "p", "operator": "gt", "value": "x"}]},
            ]
        },
    }
    assert _paths(validate_flag(body)) == [
        "key",
        "active",
        "filters.groups[0].properties[0].operator",
        "filters.groups[0].rollout_percentage",
        "filters.groups[1].properties[0].value",
    ]


def test_never_raises_on_garbage() -> None:
    rng = random.Random(3)
    atoms: list[Any] = [
        None,
        True,
        0,
        -1,
        1.5,
        float("nan"),
        "",
        "x",
        "exact",
        "regex",
        "(",
        [],
        {},
        object(),
    ]

    def junk(depth: int) -> Any:
        if depth > 3 or rng.random() < 0.3:
            return rng.choice(atoms)
        if rng.random() < 0.5:
            return [junk(depth + 1) for _ in range(rng.randint(0, 3))]
        keys = ["key", "filters", "groups", "properties", "operator", "value", "type", "variant",
                "multivariate", "variants", "rollout_percentage", "payloads", "values"]  # fmt: skip
        return {rng.choice(keys): junk(depth + 1) for _ in range(rng.randint(0, 4))}

    for _ in range(3000):
        body = junk(0)
        assert isinstance(validate_flag(body), list)
        assert isinstance(validate_cohort(body), list)


# --- cohorts -------------------------------------------------------------------------------------


def test_valid_cohorts() -> None:
    dynamic = {
        "name": "EU",
        "properties": {
            "type": "OR",
            "values": [
                {
                    "type": "AND",
                    "values": [{"key": "country", "type": "person", "value": ["DE", "FR"]}],
                },
                {"key": "id", "type": "cohort", "value": 3, "negation": True},
            ],
        },
    }
    assert validate_cohort(dynamic) == []
    assert validate_cohort({"name": "Uploaded", "is_static": True}) == []


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ([], "", "an object"),
        ({"name": "x"}, "properties", "needs properties"),
        ({"properties": {"type": "XOR", "values": []}}, "properties.type", "AND"),
        ({"properties": {"type": "AND", "values": {}}}, "properties.values", "a list"),
        (
            {
                "properties": {
                    "type": "AND",
                    "values": [{"key": "p", "operator": "bogus", "value": 1}],
                }
            },
            "properties.values[0].operator",
            "unknown operator",
        ),
        (
            {
                "properties": {
                    "type": "AND",
                    "values": [
                        {"type": "OR", "values": [{"key": "p", "type": "group", "value": 1}]}
                    ],
                }
            },
            "properties.values[0].values[0].type",
            "unknown property type",
        ),
        (
            {
                "properties": {
                    "type": "AND",
                    "values": [{"key": "p", "value": "x", "negation": "yes"}],
                }
            },
            "properties.values[0].negation",
            "boolean",
        ),
        ({"is_static": "yes"}, "is_static", "boolean"),
        (
            {
                "is_static": True,
                "properties": {"type": "AND", "values": [{"key": "p", "value": 1}]},
            },
            "properties",
            "static",
        ),
    ],
)
def test_bad_cohorts(body: Any, path: str, fragment: str) -> None:
    errors = validate_cohort(body)
    matching = [e for e in errors if e.path == path]
    assert matching, f"no error at {path}: {errors}"
    assert any(fragment in e.reason for e in matching), matching
