"""FlagSet: the public API, results, groups, cohorts, dependencies, modes and error isolation."""

from __future__ import annotations

import json
import threading
from typing import Any

import msgspec
import pytest
from devflow_sdk.flags import Evaluation, FlagSet, bucket


def _flag(key: str, groups: list[dict[str, Any]], **filters: Any) -> dict[str, Any]:
    extra = {k: filters.pop(k) for k in ("id", "active", "version") if k in filters}
    flag: dict[str, Any] = {"key": key, "active": True, "filters": {"groups": groups, **filters}}
    return flag | extra


def _prop(key: str, value: Any, operator: str = "exact", kind: str = "person") -> dict[str, Any]:
    return {"key": key, "value": value, "operator": operator, "type": kind}


def _dep(ref: str, value: Any = True) -> dict[str, Any]:
    return {"key": ref, "type": "flag", "operator": "flag_evaluates_to", "value": value}


def _eval(flags: FlagSet, key: str, distinct_id: str = "u1", **kw: Any) -> Evaluation:
    result = flags.evaluate(key, distinct_id, **kw)
    assert result is not None
    return result


# --- API -----------------------------------------------------------------------------------------


def test_keys_contains_len_and_unknown_key() -> None:
    flags = FlagSet([_flag("a", []), _flag("b", []), {"name": "no key"}, "garbage"])  # type: ignore[list-item]
    assert flags.keys() == ["a", "b"]
    assert "a" in flags
    assert "zzz" not in flags
    assert len(flags) == 2
    assert flags.evaluate("zzz", "u1") is None


def test_from_definitions_reads_the_whole_document() -> None:
    doc = {
        "flags": [
            _flag(
                "g",
                [{"properties": [_prop("size", 10, "gt", "group")]}],
                aggregation_group_type_index=0,
            )
        ],
        "cohorts": {},
        "group_type_mapping": {"0": "company"},
    }
    flags = FlagSet.from_definitions(doc)
    result = _eval(
        flags, "g", groups={"company": "acme"}, group_properties={"company": {"size": 11}}
    )
    assert result.enabled


def test_result_fields_for_a_match() -> None:
    flags = FlagSet(
        [
            _flag(
                "f",
                [
                    {"properties": [_prop("plan", "pro")]},
                    {"properties": [], "rollout_percentage": 100},
                ],
                payloads={"true": '{"x": 1}'},
                id=12,
                version=3,
            )
        ]
    )
    first = _eval(flags, "f", person_properties={"plan": "pro"})
    assert (first.enabled, first.variant, first.value, first.payload) == (
        True,
        None,
        True,
        '{"x": 1}',
    )
    assert (first.reason, first.condition_index, first.description) == (
        "condition_match",
        0,
        "Matched condition set 1",
    )
    assert (first.flag_id, first.version, first.inconclusive, first.error) == (12, 3, False, None)
    second = _eval(flags, "f", person_properties={"plan": "free"})
    assert (second.condition_index, second.description) == (1, "Matched condition set 2")
    # Results are plain structs, serialisable as they are.
    assert json.loads(msgspec.json.encode(first))["reason"] == "condition_match"
    with pytest.raises(AttributeError):
        first.enabled = False  # type: ignore[misc]


def test_no_match_out_of_rollout_and_disabled() -> None:
    out_user = next(f"u{n}" for n in range(100) if bucket("r", f"u{n}") > 0.1)
    flags = FlagSet(
        [
            _flag(
                "r",
                [
                    {"properties": [_prop("plan", "pro")]},
                    {"properties": [], "rollout_percentage": 10},
                ],
            ),
            _flag("off", [{"properties": []}], active=False),
            _flag("empty", []),
        ]
    )
    result = _eval(flags, "r", out_user, person_properties={"plan": "free"})
    assert (result.enabled, result.reason, result.condition_index) == (
        False,
        "out_of_rollout_bound",
        1,
    )
    assert _eval(flags, "off").reason == "flag_disabled"
    assert _eval(flags, "empty").reason == "no_condition_match"


def test_multivariate_variant_override_and_payloads() -> None:
    variants = {
        "variants": [{"key": "a", "rollout_percentage": 50}, {"key": "b", "rollout_percentage": 50}]
    }
    flags = FlagSet(
        [
            _flag(
                "mv",
                [
                    {"properties": [_prop("plan", "pro")], "variant": "b"},
                    {"properties": [_prop("plan", "team")], "variant": "nope"},
                    {"properties": [], "rollout_percentage": 100},
                ],
                multivariate=variants,
                payloads={"a": '"A"', "b": '"B"'},
            )
        ]
    )
    forced = _eval(flags, "mv", person_properties={"plan": "pro"})
    assert (forced.variant, forced.value, forced.payload) == ("b", "b", '"B"')
    for n in range(30):
        did = f"user-{n}"
        expected = "a" if bucket("mv", did, "variant") < 0.5 else "b"
        # An override naming no variant falls back to hashing.
        for plan in ("team", "free"):
            result = _eval(flags, "mv", did, person_properties={"plan": plan})
            assert result.variant == expected
            assert result.payload == f'"{expected.upper()}"'


def test_variants_short_of_100_leave_some_subjects_plain_true() -> None:
    variants = {"variants": [{"key": "a", "rollout_percentage": 10}]}
    flags = FlagSet(
        [_flag("mv", [{"properties": []}], multivariate=variants, payloads={"true": "1"})]
    )
    values = {_eval(flags, "mv", f"u{n}").value for n in range(200)}
    assert values == {"a", True}
    plain = next(f"u{n}" for n in range(200) if bucket("mv", f"u{n}", "variant") >= 0.1)
    assert _eval(flags, "mv", plain).payload == "1"


def test_first_match_wins_even_after_an_inconclusive_condition() -> None:
    # PostHog's local evaluation: an undecidable condition does not block a later match.
    flags = FlagSet([_flag("f", [{"properties": [_prop("missing", "x")]}, {"properties": []}])])
    assert _eval(flags, "f").enabled
    flags = FlagSet(
        [_flag("g", [{"properties": [_prop("missing", "x")]}, {"properties": [_prop("p", 1)]}])]
    )
    assert _eval(flags, "g", person_properties={"p": 2}).inconclusive
    # A failing filter rules its condition out even after an undecidable one.
    flags = FlagSet([_flag("h", [{"properties": [_prop("missing", "x"), _prop("p", 1)]}])])
    assert _eval(flags, "h", person_properties={"p": 2}).reason == "no_condition_match"


def test_experience_continuity_is_inconclusive_locally_only() -> None:
    flag = _flag("c", [{"properties": []}]) | {"ensure_experience_continuity": True}
    flags = FlagSet([flag])
    local = _eval(flags, "c")
    assert local.inconclusive
    assert local.reason == "inconclusive"
    assert not local.enabled
    assert _eval(flags, "c", complete=True).enabled


def test_device_id_bucketing() -> None:
    flag = _flag("d", [{"properties": [], "rollout_percentage": 50}]) | {
        "bucketing_identifier": "device_id"
    }
    flags = FlagSet([flag])
    assert _eval(flags, "d").inconclusive
    device = next(f"dev{n}" for n in range(100) if bucket("d", f"dev{n}") <= 0.5)
    assert _eval(flags, "d", "anyone", device_id=device).enabled
    assert _eval(flags, "d", "anyone", device_id=device, complete=True).enabled


# --- groups --------------------------------------------------------------------------------------

GROUP_FLAG = _flag(
    "g",
    [{"properties": [_prop("size", 10, "gt", "group")], "rollout_percentage": 100}],
    aggregation_group_type_index=0,
)


def test_group_flag_uses_group_properties_and_key() -> None:
    flags = FlagSet([GROUP_FLAG], group_type_mapping={"0": "company"})
    kw: dict[str, Any] = {"groups": {"company": "acme"}}
    assert _eval(flags, "g", group_properties={"company": {"size": 11}}, **kw).enabled
    assert not _eval(flags, "g", group_properties={"company": {"size": 9}}, **kw).enabled
    # Person properties are not read by a group flag.
    assert _eval(
        flags, "g", person_properties={"size": 99}, group_properties={"company": {}}, **kw
    ).inconclusive


def test_group_flag_buckets_by_group_key() -> None:
    flag = _flag(
        "gr", [{"properties": [], "rollout_percentage": 50}], aggregation_group_type_index=0
    )
    flags = FlagSet([flag], group_type_mapping={"0": "company"})
    for n in range(40):
        key = f"company-{n}"
        result = _eval(
            flags, "gr", "whoever", groups={"company": key}, group_properties={"company": {}}
        )
        assert result.enabled is (bucket("gr", key) <= 0.5)


def test_missing_group_is_no_group_type_and_missing_properties_inconclusive() -> None:
    flags = FlagSet([GROUP_FLAG], group_type_mapping={"0": "company"})
    result = _eval(flags, "g", groups={"team": "t"})
    assert (result.enabled, result.reason) == (False, "no_group_type")
    assert _eval(flags, "g", groups={"company": "acme"}).inconclusive
    # With complete data, missing group properties are simply empty.
    complete = _eval(flags, "g", groups={"company": "acme"}, complete=True)
    assert (complete.enabled, complete.reason) == (False, "no_condition_match")


def test_unknown_group_type_index() -> None:
    flags = FlagSet([GROUP_FLAG], group_type_mapping={"1": "team"})
    assert _eval(flags, "g", groups={"company": "acme"}).inconclusive
    assert _eval(flags, "g", groups={"company": "acme"}, complete=True).reason == "no_group_type"


# --- cohorts -------------------------------------------------------------------------------------

COHORTS = {
    "1": {
        "type": "OR",
        "values": [
            {
                "type": "AND",
                "values": [
                    _prop("country", ["DE", "FR"]),
                    _prop("plan", "free") | {"negation": True},
                ],
            },
            {"type": "AND", "values": [{"key": "id", "type": "cohort", "value": 2}]},
        ],
    },
    "2": {"type": "AND", "values": [_prop("email", "@acme.com", "icontains")]},
    "5": {"is_static": True},
}


def _cohort_flag(cohort_id: int, operator: str = "in") -> dict[str, Any]:
    cohort = {"key": "id", "type": "cohort", "value": cohort_id, "operator": operator}
    return _flag(f"c{cohort_id}-{operator}", [{"properties": [cohort]}])


def test_dynamic_cohort_nested_and_or_with_negation() -> None:
    flags = FlagSet([_cohort_flag(1), _cohort_flag(1, "not_in")], COHORTS)
    cases = [
        ({"country": "de", "plan": "pro", "email": "x@y.z"}, True),
        ({"country": "DE", "plan": "free", "email": "x@y.z"}, False),
        ({"country": "US", "plan": "free", "email": "me@ACME.com"}, True),
    ]
    for props, member in cases:
        assert _eval(flags, "c1-in", person_properties=props).enabled is member
        assert _eval(flags, "c1-not_in", person_properties=props).enabled is not member
    # OR: one decisive entry decides even when another cannot be decided.
    assert _eval(flags, "c1-in", person_properties={"email": "me@acme.com"}).enabled
    assert _eval(flags, "c1-in", person_properties={"country": "US"}).inconclusive


def test_static_cohort_membership() -> None:
    flags = FlagSet([_cohort_flag(5), _cohort_flag(6), _cohort_flag(5, "not_in")], COHORTS)
    for key in ("c5-in", "c6-in", "c5-not_in"):
        assert _eval(flags, key).inconclusive  # only the server knows the members
    assert _eval(flags, "c5-in", cohort_membership=["5"]).enabled
    assert not _eval(flags, "c5-in", cohort_membership={"7"}).enabled
    assert _eval(flags, "c6-in", cohort_membership=("6",), complete=True).enabled
    assert not _eval(flags, "c5-in", complete=True).enabled
    assert _eval(flags, "c5-not_in", cohort_membership=[]).enabled


def test_static_cohort_stops_the_flag_but_not_after_an_undecided_filter() -> None:
    static = {"key": "id", "type": "cohort", "value": 5}
    flags = FlagSet(
        [
            _flag("stop", [{"properties": [static]}, {"properties": []}]),
            _flag("go", [{"properties": [_prop("missing", 1), static]}, {"properties": []}]),
        ],
        COHORTS,
    )
    assert _eval(flags, "stop").inconclusive  # needs the server: later conditions are not tried
    assert _eval(flags, "go").enabled


# --- dependencies --------------------------------------------------------------------------------


def _dependency_set(**kw: Any) -> FlagSet:
    return FlagSet(
        [
            _flag("base", [{"properties": [_prop("plan", "pro")]}], id=1),
            _flag(
                "mv",
                [{"properties": [_prop("plan", "pro")]}],
                id=2,
                multivariate={"variants": [{"key": "only", "rollout_percentage": 100}]},
            ),
            _flag("on-base", [{"properties": [_dep("1")]}], id=3),
            _flag("off-base", [{"properties": [_dep("1", False)]}], id=4),
            _flag("on-variant", [{"properties": [_dep("mv", "only")]}], id=5),
            _flag("chain", [{"properties": [_dep("3")]}], id=6),
            _flag("missing", [{"properties": [_dep("999")]}], id=7),
            _flag("cycle-a", [{"properties": [_dep("9")]}], id=8),
            _flag("cycle-b", [{"properties": [_dep("8")]}], id=9),
            _flag(
                "bad-operator",
                [{"properties": [_dep("1") | {"operator": "exact"}]}, {"properties": []}],
                id=10,
            ),
        ],
        **kw,
    )


def test_dependencies_by_id_or_key_and_variants() -> None:
    flags = _dependency_set()
    pro, free = {"plan": "pro"}, {"plan": "free"}
    assert _eval(flags, "on-base", person_properties=pro).enabled
    assert not _eval(flags, "on-base", person_properties=free).enabled
    assert _eval(flags, "off-base", person_properties=free).enabled
    assert _eval(flags, "on-variant", person_properties=pro).enabled
    assert _eval(flags, "chain", person_properties=pro).enabled
    assert not _eval(flags, "chain", person_properties=free).enabled


def test_inconclusive_dependencies() -> None:
    flags = _dependency_set()
    assert _eval(flags, "on-base").inconclusive  # base cannot be decided without "plan"
    assert _eval(flags, "chain").inconclusive
    assert _eval(flags, "missing", person_properties={"plan": "pro"}).inconclusive
    assert _eval(flags, "cycle-a").inconclusive
    # A malformed dependency simply does not match.
    assert _eval(flags, "bad-operator").condition_index == 1
    # With complete data an unresolvable dependency does not match.
    assert not _eval(flags, "missing", complete=True).enabled
    assert not _eval(flags, "cycle-a", complete=True).enabled
    assert not _eval(flags, "on-base", complete=True).enabled


def test_served_dependency_chains_are_used_as_given() -> None:
    flags = FlagSet(
        [
            _flag("base", [{"properties": [_prop("plan", "pro")]}]),
            _flag("dep", [{"properties": [_dep("base") | {"dependency_chain": ["base"]}]}]),
            _flag("circular", [{"properties": [_dep("base") | {"dependency_chain": []}]}]),
        ]
    )
    assert _eval(flags, "dep", person_properties={"plan": "pro"}).enabled
    assert _eval(flags, "circular", person_properties={"plan": "pro"}).inconclusive


# --- evaluate_all, errors, threads ---------------------------------------------------------------


def test_evaluate_all_isolates_a_failing_flag() -> None:
    flags = FlagSet(
        [
            _flag("ok", [{"properties": []}]),
            _flag("bad-rollout", [{"properties": [], "rollout_percentage": "ten"}]),
            _flag(
                "bad-variants",
                [{"properties": []}],
                multivariate={"variants": [{"name": "no key"}]},
            ),
            {"key": "bad-filters", "active": True, "filters": "nope"},
            _flag("after", [{"properties": [_prop("p", 1)]}]),
        ]
    )
    results = flags.evaluate_all("u1", person_properties={"p": 1})
    assert list(results) == ["ok", "bad-rollout", "bad-variants", "bad-filters", "after"]
    assert results["ok"].enabled
    assert results["after"].enabled
    for key in ("bad-rollout", "bad-variants", "bad-filters"):
        assert results[key].reason == "error", results[key]
        assert results[key].error
        assert not results[key].enabled
    assert flags.evaluate("bad-rollout", "u1").reason == "error"  # type: ignore[union-attr]
    subset = flags.evaluate_all("u1", keys=["after", "nope", "ok"])
    assert list(subset) == ["after", "ok"]


def test_broken_parts_fail_only_where_posthog_would_reach_them() -> None:
    flags = FlagSet(
        [
            _flag(
                "f",
                [{"properties": [_prop("p", 1)]}, {"properties": [], "rollout_percentage": "x"}],
            )
        ]
    )
    assert _eval(flags, "f", person_properties={"p": 1}).enabled
    assert _eval(flags, "f", person_properties={"p": 2}).reason == "error"


def test_validation_never_needed_to_evaluate_garbage() -> None:
    garbage: list[Any] = [
        {"key": "a", "active": True, "filters": {"groups": [None, 5, {"properties": "x"}]}},
        {"key": "b", "active": True, "filters": {"groups": {"x": 1}}},
        {
            "key": "c",
            "active": True,
            "filters": {"groups": [{"properties": [{"type": "cohort", "value": None}]}]},
        },
        {"key": "d", "active": True, "filters": {"holdout": "yes", "groups": []}},
        {
            "key": "e",
            "active": True,
            "filters": {"multivariate": {"variants": "ab"}, "groups": [{}]},
        },
    ]
    results = FlagSet(garbage, cohorts={"x": 1}).evaluate_all("u1", person_properties={"p": 1})  # type: ignore[dict-item]
    assert set(results) == {"a", "b", "c", "d", "e"}
    assert all(isinstance(r, Evaluation) for r in results.values())


def test_concurrent_evaluation_is_consistent() -> None:
    flags = _dependency_set()
    expected = {
        k: r.value for k, r in flags.evaluate_all("u1", person_properties={"plan": "pro"}).items()
    }
    failures: list[str] = []

    def worker() -> None:
        for _ in range(300):
            got = {
                k: r.value
                for k, r in flags.evaluate_all("u1", person_properties={"plan": "pro"}).items()
            }
            if got != expected:
                failures.append(repr(got))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
