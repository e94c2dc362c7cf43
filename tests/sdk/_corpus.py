"""A seeded corpus of PostHog flag definitions and users, for comparing engines.

Flags are generated in the shape the admin API stores (dependencies name flags by id, no
``dependency_chain``); :func:`served` turns a corpus into what PostHog serves to SDKs for local
evaluation (dependencies by key, with their chains), which is what posthog-python consumes.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime
from typing import Any

from devflow_sdk.flags import with_dependency_chains

GROUP_TYPES = {"0": "company", "1": "team"}
PERSON_KEYS = [
    "email",
    "plan",
    "age",
    "score",
    "country",
    "signup",
    "version",
    "beta",
    "name",
    "tags",
]
GROUP_KEYS = ["size", "industry", "created", "tier"]

STRINGS = [
    "alice@example.com", "BOB@Example.COM", "carol@test.io", "pro", "Pro", "free", "enterprise",
    "US", "us", "FR", "Straße", "ÉMILE", "émile", "İstanbul", "日本", "🙂 smile", "", " padded ",
    "null", "true", "FALSE", "True", "yes", "42", "42.0", " 42", "4.2e1", "1_000", "-7", ".5",
    "1.2.3", "v2.0.0", "0.9.12-beta", "10.0", "abc123", "a\nb", "line\n", "tab\tsep", "x\x1cy",
]  # fmt: skip
DATES = [
    "2024-01-15", "2024-01-15T10:00:00Z", "2023-06-30T23:59:59+02:00", "2022-12-31 08:00:00 UTC",
    "2021-03-04T05:06:07.123456", "2030-01-01", "not a date", "2024-13-01", "2024", "1999-02-28",
]  # fmt: skip
PATTERNS = [
    "^alice", "example\\.com$", "[0-9]+", "^[a-z]+$", "pro|enterprise", "(ab)+", "", "([",
    "\\bword", "(?i)pro", "\\w+@\\w+", "\\s", "a{2,3}", "^$", "(a+)+", "\\d{2}", "[^@]+@", "é",
    ".*", "\\x41", "[\\w-]+", "e$", "^line$", "b$",
]  # fmt: skip
DATE_FILTERS = [
    "-7d", "2w", "1h", "-1m", "1y", "-30d", "2024-01-01", "2024-01-01T00:00:00Z", "2023",
    "not a date", "10000d", "3000y", "5x", "2022-06-01 12:00:00 UTC", "-12m",
]  # fmt: skip
SEMVERS = ["1.2.3", "v2.0.0", "0.9", "1.*", "1.2.*", "01.2.3", "garbage", "2"]
OPERATORS = [
    "exact", "is_not", "is_set", "is_not_set", "icontains", "not_icontains", "regex", "not_regex",
    "gt", "gte", "lt", "lte", "is_date_before", "is_date_after", "starts_with", "not_starts_with",
    "ends_with", "not_ends_with", "semver_eq", "semver_gt", "semver_lte", "semver_tilde",
    "semver_caret", "semver_wildcard",
]  # fmt: skip


def _scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(STRINGS)
    if roll < 0.6:
        return rng.choice([0, 1, 7, 10, 42, -3, 10**20])
    if roll < 0.75:
        return rng.choice([0.5, 3.14, 42.0, 1e-05, 1e16, -0.0, 2.5e-7])
    if roll < 0.85:
        return rng.choice([True, False])
    if roll < 0.93:
        return rng.choice(DATES)
    return None


def _person_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.8:
        return _scalar(rng)
    if roll < 0.86:
        return [_scalar(rng) for _ in range(rng.randint(0, 3))]
    if roll < 0.9:
        return {"b": 1, "a": [True, None]}
    if roll < 0.93:
        return rng.choice([math.nan, math.inf])
    if roll < 0.97:
        return datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
    return date(2023, 5, 1)


# Values people typically have for each property (a quarter of them get anything instead).
TYPICAL: dict[str, list[Any]] = {
    "email": ["alice@example.com", "BOB@Example.COM", "ÉMILE@EXEMPLE.FR", "émile@exemple.fr", ""],
    "plan": ["pro", "Pro", "free", "enterprise", "PRO ", None],
    "age": [7, 10, 42, 42.0, "42", "9", "10", "10.0", "abc", -1, 3.5, "4.2e1"],
    "score": [0.5, 3.14, 10, "10", "1e3", None, 99.99, "NaN"],
    "country": ["US", "us", "FR", "Straße", "İstanbul", "日本"],
    "signup": [*DATES, datetime(2024, 1, 15, 10, 0, tzinfo=UTC), date(2023, 5, 1), None],
    "version": ["1.2.3", "v2.0.0", "0.9.12-beta", "1.10.0", "2", "1.2", "01.2.3", "x.y"],
    "beta": [True, False, "true", "FALSE", "yes", 1],
    "name": ["Alice", "bob", "ÉMILE", "🙂 smile", "a\nb", "line\n", "tab\tsep", "x\x1cy"],
    "tags": [["a", "b"], [], ["true"], [True, False], [1, "x"]],
    "size": [5, 10, 50, "20", 10.5, None],
    "industry": ["tech", "Tech", "retail", ""],
    "created": ["2024-01-15", "2020-06-01T00:00:00Z", "bad"],
    "tier": ["gold", "silver", True],
}
KEYS_FOR: dict[str, list[str]] = {
    "exact": ["plan", "country", "beta", "email", "tags", "industry", "tier"],
    "text": ["email", "name", "plan", "country", "industry"],
    "regex": ["email", "name", "plan", "age"],
    "number": ["age", "score", "size"],
    "date": ["signup", "created"],
    "semver": ["version"],
}


def _family(operator: str) -> str:
    if operator in ("exact", "is_not", "is_set", "is_not_set"):
        return "exact"
    if operator.endswith("regex"):
        return "regex"
    if operator in ("gt", "gte", "lt", "lte"):
        return "number"
    if operator.startswith("is_date"):
        return "date"
    if operator.startswith("semver"):
        return "semver"
    return "text"


def _filter_value(rng: random.Random, operator: str) -> Any:
    if operator in ("exact", "is_not"):
        roll = rng.random()
        if roll < 0.55:
            return _scalar(rng)
        if roll < 0.85:
            return [_scalar(rng) for _ in range(rng.randint(1, 3))]
        return rng.choice([[], ["true", "false"], [True], "true", "false", math.nan])
    if operator in ("is_set", "is_not_set"):
        return rng.choice([None, "is_set"])
    if operator.endswith(("icontains", "starts_with", "ends_with")):
        return rng.choice(["example", "PRO", "é", "É", "ß", "1", "@", "", "null", 42, True, None])
    if operator.endswith("regex"):
        return rng.choice([*PATTERNS, 42, None])
    if operator in ("gt", "gte", "lt", "lte"):
        return rng.choice([10, "10", 0, -1, 3.5, "4.2e1", 42, 10.0, "abc", True, None, " 5"])
    if operator.startswith("is_date"):
        return rng.choice(DATE_FILTERS)
    if operator.startswith("is_"):
        return None
    return rng.choice(SEMVERS)


def _property(rng: random.Random, group_index: int | None = None) -> dict[str, Any]:
    operator = rng.choice(OPERATORS)
    keys = GROUP_KEYS if group_index is not None else PERSON_KEYS
    typical = [k for k in KEYS_FOR[_family(operator)] if k in keys]
    prop: dict[str, Any] = {
        "key": rng.choice(typical if typical and rng.random() < 0.8 else keys),
        "type": "group" if group_index is not None else "person",
        "value": _filter_value(rng, operator),
    }
    if group_index is not None:
        prop["group_type_index"] = group_index
    if rng.random() < 0.97:
        prop["operator"] = operator
    elif rng.random() < 0.5:
        prop["operator"] = rng.choice(["contains_maybe", None])
    if rng.random() < 0.05:
        prop["negation"] = True  # ignored by flag conditions, as in PostHog
    return prop


def _cohorts(rng: random.Random) -> dict[str, Any]:
    cohorts: dict[str, Any] = {}

    def entry(depth: int, cohort_id: int) -> dict[str, Any]:
        roll = rng.random()
        if roll < 0.25 and depth < 2:
            return group(depth + 1, cohort_id)
        if roll < 0.35 and cohort_id > 1:
            ref = rng.choice([rng.randint(1, cohort_id - 1), 99])  # 99 is a static cohort
            out = {"key": "id", "type": "cohort", "value": ref}
            if rng.random() < 0.3:
                out["negation"] = True
            return out
        prop = _property(rng)
        if rng.random() < 0.3:
            prop["negation"] = True
        return prop

    def group(depth: int, cohort_id: int) -> dict[str, Any]:
        return {
            "type": rng.choice(["AND", "OR"]),
            "values": [entry(depth, cohort_id) for _ in range(rng.randint(1, 3))],
        }

    for cohort_id in range(1, 11):
        cohorts[str(cohort_id)] = group(0, cohort_id)
    cohorts["11"] = {}
    return cohorts


def _condition(rng: random.Random, flag_id: int, aggregation: int | None) -> dict[str, Any]:
    props: list[dict[str, Any]] = []
    for _ in range(rng.choices([0, 1, 2, 3], [3, 5, 3, 1])[0]):
        roll = rng.random()
        if roll < 0.12:
            props.append(
                {
                    "key": "id",
                    "type": "cohort",
                    "value": rng.choice([*range(1, 12), 99]),
                    "operator": rng.choice(["in", "in", "not_in", None, "bogus"]),
                }
            )
        elif roll < 0.22 and flag_id > 1:
            ref = rng.randint(max(1, flag_id - 15), flag_id + 2)  # forward refs make cycles
            if rng.random() < 0.05:
                ref = 9999  # a flag that does not exist
            props.append(
                {
                    "key": str(ref),
                    "type": "flag",
                    "operator": rng.choice(["flag_evaluates_to"] * 9 + ["exact"]),
                    "value": rng.choice([True, True, False, "control", "test", None]),
                }
            )
        else:
            props.append(_property(rng, aggregation))
    cond: dict[str, Any] = {
        "properties": props,
        "rollout_percentage": rng.choice([None, 0, 100, 100, 50, 33.3, 12.5, 99.9, 0.5, 75]),
    }
    if rng.random() < 0.01:
        cond["rollout_percentage"] = "50"  # broken: PostHog fails once it reaches the rollout
    if rng.random() < 0.15:
        cond["variant"] = rng.choice(["control", "test", "missing-variant", None])
    return cond


# One plain filter per operator that some typical users match and others do not.
BASELINE: list[tuple[str, str, Any]] = [
    ("plan", "exact", "pro"), ("country", "exact", ["US", "FR"]), ("plan", "is_not", "free"),
    ("plan", "is_set", None), ("score", "is_not_set", None), ("email", "icontains", "example"),
    ("email", "not_icontains", "ÉMILE"), ("email", "starts_with", "alice"),
    ("email", "not_starts_with", "BOB"), ("email", "ends_with", ".com"),
    ("email", "not_ends_with", ".fr"), ("email", "regex", "example\\.com$"),
    ("name", "regex", "e$"), ("email", "not_regex", "^[a-z]+@"), ("age", "gt", 10),
    ("age", "gte", "10"), ("score", "lt", 5), ("age", "lte", 42.0),
    ("signup", "is_date_before", "2024-01-01"), ("signup", "is_date_after", "-3000d"),
    ("version", "semver_eq", "1.2.3"), ("version", "semver_gt", "1.0.0"),
    ("version", "semver_lte", "1.2.3"), ("version", "semver_tilde", "1.2.0"),
    ("version", "semver_caret", "1.0.0"), ("version", "semver_wildcard", "1.*"),
]  # fmt: skip


def flags(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """``count`` random flags followed by one plain flag per :data:`BASELINE` filter."""
    out = _random_flags(rng, count)
    for key, operator, value in BASELINE:
        flag_id = len(out) + 1
        prop = {"key": key, "type": "person", "operator": operator, "value": value}
        out.append(
            {
                "id": flag_id,
                "key": f"flag-{flag_id}",
                "active": True,
                "filters": {"groups": [{"properties": [prop], "rollout_percentage": 100}]},
            }
        )
    return out


def _random_flags(rng: random.Random, count: int) -> list[dict[str, Any]]:
    out = []
    for flag_id in range(1, count + 1):
        aggregation = rng.choice([None] * 6 + [0, 1, 2])
        filters: dict[str, Any] = {
            "groups": [
                _condition(rng, flag_id, aggregation) for _ in range(rng.choice([0, 1, 1, 2, 3]))
            ],
            "aggregation_group_type_index": aggregation,
        }
        if rng.random() < 0.35:
            shares = rng.choice(
                [[50, 50], [33.3, 33.3, 33.4], [25, 25, 25, 25], [10, 90], [20, 30]]
            )
            names = ["control", "test", "third", "fourth"][: len(shares)]
            filters["multivariate"] = {
                "variants": [
                    {"key": n, "name": n.title(), "rollout_percentage": s}
                    for n, s in zip(names, shares, strict=True)
                ]
            }
            filters["payloads"] = {n: f'{{"variant": "{n}"}}' for n in names if rng.random() < 0.7}
            if rng.random() < 0.03:
                del filters["multivariate"]["variants"][-1]["rollout_percentage"]  # broken
        elif rng.random() < 0.5:
            filters["payloads"] = {"true": rng.choice(['{"on": true}', "42", '"text"'])}
        if rng.random() < 0.1:
            filters["early_exit"] = True
        if rng.random() < 0.05:
            filters["holdout"] = {"id": 7, "exclusion_percentage": rng.choice([10, 50, 100])}
        if rng.random() < 0.04:
            filters["feature_enrollment"] = True
        if rng.random() < 0.3 and aggregation is None and filters["groups"]:
            # Mixed targeting: one condition aggregated by a group of its own.
            mixed = rng.choice(filters["groups"])
            index = rng.choice([0, 1, 2])
            mixed["aggregation_group_type_index"] = index
            mixed["properties"] = [_property(rng, index) for _ in mixed["properties"]]
        flag: dict[str, Any] = {
            "id": flag_id,
            "key": f"flag-{flag_id}",
            "name": f"Flag {flag_id}",
            "active": rng.random() < 0.92,
            "version": rng.randint(1, 5),
            "filters": filters,
        }
        if rng.random() < 0.03:
            flag["ensure_experience_continuity"] = True
        if rng.random() < 0.03:
            flag["bucketing_identifier"] = "device_id"
        out.append(flag)
    return out


def _value(rng: random.Random, key: str) -> Any:
    if rng.random() < 0.75:
        return rng.choice(TYPICAL[key])
    return _person_value(rng)


def users(rng: random.Random, count: int) -> list[dict[str, Any]]:
    out = []
    for n in range(count):
        props = {k: _value(rng, k) for k in PERSON_KEYS if rng.random() < 0.8}
        if rng.random() < 0.03:
            props = {}
        for flag_id in range(1, 200):
            if rng.random() < 0.1:
                props[f"$feature_enrollment/flag-{flag_id}"] = rng.choice([True, "true", False, 1])
        groups: dict[str, Any] = {}
        group_props: dict[str, Any] = {}
        for name in GROUP_TYPES.values():
            if rng.random() < 0.7:
                groups[name] = rng.choice([f"{name}-{rng.randint(1, 50)}", rng.randint(1, 50)])
                if rng.random() < 0.85:
                    group_props[name] = {
                        k: _value(rng, k) for k in GROUP_KEYS if rng.random() < 0.8
                    }
        distinct_id = rng.choice([f"user-{n}", f"ユーザー{n}", f"{n}", f"u{n}@example.com"])
        out.append(
            {
                "distinct_id": distinct_id,
                "device_id": rng.choice([None, f"device-{n}", ""]),
                "person": props,
                "groups": groups,
                "group_props": group_props,
            }
        )
    return out


def served(flag_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flags as PostHog's local-evaluation endpoint serves them: each dependency names its
    flag by key and carries the chain to evaluate (empty for cycles and missing flags)."""
    return with_dependency_chains(flag_list)
