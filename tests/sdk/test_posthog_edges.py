"""Hand-written edge cases compared with posthog-python's local evaluation.

Each case is a small definitions document; every flag in it is evaluated for a handful of
subjects by both engines (``_compute_flag_locally`` on posthog's side) and must agree on the
value, the payload and on being inconclusive or failing.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from devflow_sdk.flags import FlagSet
from posthog import Client
from posthog.feature_flags import InconclusiveMatchError, RequiresServerEvaluation

MAPPING = {"0": "company", "1": "team"}
SUBJECTS: list[dict[str, Any]] = [
    {"distinct_id": "alice", "person": {"plan": "pro", "email": "a@acme.com", "age": 30}},
    {"distinct_id": "bob", "person": {"plan": "free", "age": "17"}},
    {"distinct_id": "carol", "person": {}},
    {
        "distinct_id": "dave",
        "person": {"plan": "pro"},
        "groups": {"company": "acme", "team": 7},
        "group_props": {"company": {"size": 50, "plan": "pro"}, "team": {"size": 3}},
    },
    {"distinct_id": "erin", "person": {"plan": "pro"}, "groups": {"company": "initech"}},
    {"distinct_id": "ユーザー", "person": {"plan": "pro"}, "device_id": "device-1"},
]


def _p(key: str, value: Any, operator: str = "exact", **extra: Any) -> dict[str, Any]:
    return {"key": key, "value": value, "operator": operator, "type": "person", **extra}


def _cohort(cohort_id: Any, operator: str = "in") -> dict[str, Any]:
    return {"key": "id", "type": "cohort", "value": cohort_id, "operator": operator}


def _flag(key: str, groups: Any, **filters: Any) -> dict[str, Any]:
    return {"key": key, "active": True, "filters": {"groups": groups, **filters}}


EVERYONE = [{"properties": [], "rollout_percentage": 100}]
PRO = [{"properties": [_p("plan", "pro")]}]
VARIANTS = {
    "variants": [{"key": "a", "rollout_percentage": 50}, {"key": "b", "rollout_percentage": 50}]
}

CASES: dict[str, dict[str, Any]] = {
    "malformed cohorts need the server": {
        "flags": [
            _flag("xor", [{"properties": [_cohort(1)]}]),
            _flag("entry", [{"properties": [_cohort(2)]}, *EVERYONE]),
            _flag("values", [{"properties": [_cohort(3)]}]),
            _flag("empty", [{"properties": [_cohort(4)]}]),
            _flag("nested-empty", [{"properties": [_cohort(5)]}]),
            _flag("bad-operator", [{"properties": [_cohort(4, "bogus")]}, *EVERYONE]),
        ],
        "cohorts": {
            "1": {"type": "XOR", "values": [_p("plan", "pro")]},
            "2": {"type": "AND", "values": ["plan"]},
            "3": {"type": "OR", "values": {"a": 1}},
            "4": {},
            "5": {"type": "AND", "values": [{}, _p("plan", "pro")]},
        },
    },
    "static cohorts are not short-circuited": {
        "flags": [
            _flag("or-static", [{"properties": [_cohort(1)]}]),
            _flag("and-static", [{"properties": [_cohort(2)]}]),
            _flag("negated-static", [{"properties": [_cohort(3)]}]),
            _flag("not-in-static", [{"properties": [_cohort(99, "not_in")]}, *EVERYONE]),
        ],
        "cohorts": {
            "1": {"type": "OR", "values": [_p("plan", "pro"), _cohort(99)]},
            "2": {"type": "AND", "values": [_p("plan", "nope"), _cohort(99)]},
            "3": {"type": "AND", "values": [{**_cohort(1), "negation": True}]},
        },
    },
    "dependencies inside cohorts": {
        "flags": [
            _flag("base", PRO),
            _flag("via-cohort", [{"properties": [_cohort(1)]}]),
        ],
        "cohorts": {
            "1": {
                "type": "AND",
                "values": [
                    {
                        "key": "base",
                        "type": "flag",
                        "operator": "flag_evaluates_to",
                        "value": True,
                        "dependency_chain": ["base"],
                    }
                ],
            }
        },
    },
    "dependency targets": {
        "flags": [
            _flag("inactive", EVERYONE) | {"active": False},
            _flag("continuity", EVERYONE) | {"ensure_experience_continuity": True},
            _flag(
                "group-base",
                [{"properties": [_p("size", 10, "gt")]}],
                aggregation_group_type_index=0,
            ),
            _flag("device", EVERYONE) | {"bucketing_identifier": "device_id"},
            _flag("mv", EVERYONE, multivariate=VARIANTS),
            *(
                _flag(
                    f"on-{target}-{expected}",
                    [
                        {
                            "properties": [
                                {
                                    "key": target,
                                    "type": "flag",
                                    "operator": "flag_evaluates_to",
                                    "value": expected,
                                    "dependency_chain": [target],
                                }
                            ]
                        }
                    ],
                )
                for target, expected in [
                    ("inactive", False),
                    ("continuity", True),
                    ("group-base", True),
                    ("device", True),
                    ("mv", "a"),
                    ("mv", True),
                ]
            ),
            _flag(
                "bad-chain",
                [
                    {
                        "properties": [
                            {
                                "key": "mv",
                                "type": "flag",
                                "operator": "flag_evaluates_to",
                                "value": True,
                            }
                        ]
                    },
                    {
                        "properties": [
                            {
                                "key": "mv",
                                "type": "flag",
                                "operator": "flag_evaluates_to",
                                "value": True,
                                "dependency_chain": "mv",
                            }
                        ]
                    },
                ],
            ),
        ],
    },
    "mixed targeting": {
        "flags": [
            _flag(
                "mixed",
                [
                    {"properties": [_p("size", 10, "gt")], "aggregation_group_type_index": 0},
                    {"properties": [_p("size", 1, "gt")], "aggregation_group_type_index": 1},
                    {"properties": [_p("plan", "free")], "aggregation_group_type_index": None},
                ],
            ),
            _flag(
                "group-flag-with-person-condition",
                [
                    {"properties": [_p("plan", "pro")], "aggregation_group_type_index": None},
                    {"properties": [_p("plan", "pro")], "rollout_percentage": 50},
                ],
                aggregation_group_type_index=0,
            ),
            _flag("unknown-type", [{"properties": [], "aggregation_group_type_index": 4}]),
        ],
    },
    "holdouts, enrollment, early exit": {
        "flags": [
            _flag(
                "holdout",
                EVERYONE,
                holdout={"id": 3, "exclusion_percentage": 50},
                payloads={"holdout-3": "1"},
            ),
            _flag(
                "group-holdout",
                EVERYONE,
                holdout={"id": 4, "exclusion_percentage": 50},
                aggregation_group_type_index=0,
            ),
            _flag("full-holdout", EVERYONE, holdout={"id": 5, "exclusion_percentage": 100}),
            _flag("enrollment", EVERYONE, feature_enrollment=True),
            _flag(
                "group-enrollment",
                EVERYONE,
                feature_enrollment=True,
                aggregation_group_type_index=0,
            ),
            _flag(
                "early",
                [{"properties": [_p("plan", "pro")], "rollout_percentage": 0}, *EVERYONE],
                early_exit=True,
            ),
            _flag(
                "early-after-undecided",
                [
                    {"properties": [_p("missing", 1)]},
                    {"properties": [], "rollout_percentage": 0},
                    *EVERYONE,
                ],
                early_exit=True,
            ),
        ],
    },
    "odd rollouts, variants and shapes": {
        "flags": [
            _flag("bool-rollout", [{"properties": [], "rollout_percentage": True}]),
            _flag("over-100", [{"properties": [], "rollout_percentage": 250}]),
            _flag("negative", [{"properties": [], "rollout_percentage": -5}]),
            _flag(
                "short-variants",
                EVERYONE,
                multivariate={"variants": [{"key": "a", "rollout_percentage": 30}]},
            ),
            _flag("empty-override", [{"properties": [], "variant": ""}], multivariate=VARIANTS),
            _flag(
                "dup-variants",
                EVERYONE,
                multivariate={
                    "variants": [
                        {"key": "a", "rollout_percentage": 50},
                        {"key": "a", "rollout_percentage": 50},
                    ]
                },
                payloads={"a": {"json": "object"}},
            ),
            _flag("props-dict", [{"properties": {"k": 1}}, *EVERYONE]),
            _flag("groups-dict", {"a": 1}),
            _flag("key-none", [{"properties": [{"key": None, "value": "x"}]}]),
            _flag("null-variants", [{"properties": []}], multivariate=None, payloads=None),
            {"key": "no-filters", "active": True},
            {"key": "falsy-active", "active": 0, "filters": {"groups": EVERYONE}},
        ],
    },
}


def _posthog(client: Client, flag: dict[str, Any], subject: dict[str, Any]) -> tuple[Any, Any]:
    try:
        value = client._compute_flag_locally(
            flag,
            subject["distinct_id"],
            groups=subject.get("groups", {}),
            person_properties=subject["person"],
            group_properties=subject.get("group_props", {}),
            warn_on_unknown_groups=False,
            device_id=subject.get("device_id"),
        )
    except (InconclusiveMatchError, RequiresServerEvaluation):
        return "inconclusive", None
    except Exception:
        return "error", None
    return value, client._compute_payload_locally(flag["key"], value) if value else None


@pytest.mark.parametrize("case", list(CASES))
def test_agrees_with_posthog(case: str) -> None:
    logging.getLogger("posthog").setLevel(logging.CRITICAL)
    doc = CASES[case]
    client = Client("phc_edges", send=False, sync_mode=True, enable_local_evaluation=False)
    client.feature_flags = doc["flags"]
    client.cohorts = doc.get("cohorts", {})
    client.group_type_mapping = MAPPING
    ours = FlagSet(doc["flags"], doc.get("cohorts", {}), MAPPING)
    disagreements = []
    for subject in SUBJECTS:
        for flag in doc["flags"]:
            result = ours.evaluate(
                flag["key"],
                subject["distinct_id"],
                person_properties=subject["person"],
                groups=subject.get("groups"),
                group_properties=subject.get("group_props"),
                device_id=subject.get("device_id"),
            )
            assert result is not None
            got = (
                ("inconclusive", None)
                if result.inconclusive
                else ("error", None)
                if result.reason == "error"
                else (result.value, result.payload)
            )
            expected = _posthog(client, flag, subject)
            if got != expected:
                disagreements.append(
                    (flag["key"], subject["distinct_id"], expected, got, result.description)
                )
    assert not disagreements
