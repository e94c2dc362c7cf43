"""The benchmark's flag set: 50 realistic flags in PostHog's format, a user, and the same set for
the GrowthBook SDK.

The mix follows what a product team accumulates: plain percentage rollouts, targeting on person
properties with every operator, multivariate experiments with payloads, a cohort, a group flag,
a flag depending on another and a few switched-off flags. The user has every property the flags
read, so local evaluation decides every flag (nothing falls back to the server).

The GrowthBook features express the same targeting with GrowthBook's own conditions
(``$in``/``$regexi``/``$gt``/``$vgt``..., ``coverage`` for rollouts, experiment rules for
variants, ``parentConditions`` for the dependency). Bucketing cannot be identical (GrowthBook
hashes with FNV-1a, PostHog with SHA-1), so the two sets enable different users at the same
percentages; the work per evaluation is what is comparable.
"""

from __future__ import annotations

import json
import re
from typing import Any

DISTINCT_ID = "user-7f3a9c21-4b8e-4d1a-9a51-2c7e0b6d8f10"
GROUP_TYPE_MAPPING = {"0": "company", "1": "team"}
GROUPS = {"company": "acme-corp"}
GROUP_PROPERTIES = {"company": {"plan": "enterprise", "employees": 420, "industry": "Software"}}
PERSON = {
    "email": "jane.doe@acme-corp.com",
    "name": "Jane Doe",
    "plan": "pro",
    "country": "DE",
    "city": "Berlin",
    "age": 34,
    "seats": "12",
    "ltv": 1299.5,
    "signup_date": "2023-11-02T09:15:00Z",
    "last_seen": "2024-05-20",
    "app_version": "2.14.1",
    "beta_opt_in": True,
    "browser": "Chrome",
    "os": "Mac OS X",
    "utm_source": "newsletter",
    "role": "admin",
    "referrer": "https://www.google.com/",
}
# The one cohort (dynamic): EU customers on a paid plan. Created first, so it gets id 1.
COHORT_ID = 1
COHORT = {
    "type": "OR",
    "values": [
        {
            "type": "AND",
            "values": [
                {
                    "key": "country",
                    "type": "person",
                    "operator": "exact",
                    "value": ["DE", "FR", "NL"],
                },
                {
                    "key": "plan",
                    "type": "person",
                    "operator": "exact",
                    "value": "free",
                    "negation": True,
                },
            ],
        }
    ],
}
COHORT_BODIES = [{"name": "Paid EU customers", "properties": COHORT}]


def _p(key: str, operator: str, value: Any = None, kind: str = "person") -> dict[str, Any]:
    prop = {"key": key, "operator": operator, "type": kind}
    if value is not None:
        prop["value"] = value
    return prop


def _flag(
    n: int,
    key: str,
    groups: list[dict[str, Any]],
    *,
    active: bool = True,
    variants: list[tuple[str, float]] | None = None,
    payloads: dict[str, Any] | None = None,
    aggregation: int | None = None,
) -> dict[str, Any]:
    filters: dict[str, Any] = {"groups": groups, "payloads": payloads or {}}
    if variants:
        filters["multivariate"] = {
            "variants": [
                {"key": k, "name": k.title(), "rollout_percentage": r} for k, r in variants
            ]
        }
    if aggregation is not None:
        filters["aggregation_group_type_index"] = aggregation
    return {
        "id": n,
        "key": key,
        "name": key.replace("-", " ").title(),
        "active": active,
        "filters": filters,
    }


def _cond(
    props: list[dict[str, Any]], rollout: float | None = 100, variant: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"properties": props, "rollout_percentage": rollout}
    if variant is not None:
        out["variant"] = variant
    return out


def flags(cohort_id: int = COHORT_ID) -> list[dict[str, Any]]:
    """The 50 flags as PostHog stores them (the dependency names its flag by id)."""
    ab = [("control", 50), ("test", 50)]
    abc = [("control", 34), ("variant-a", 33), ("variant-b", 33)]
    out = [
        # Plain percentage rollouts.
        _flag(1, "new-navigation", [_cond([], 50)]),
        _flag(2, "faster-search", [_cond([], 20)]),
        _flag(3, "dark-mode", [_cond([], 100)]),
        _flag(4, "kill-switch-exports", [_cond([], 0)]),
        _flag(5, "gradual-api-v2", [_cond([], 37.5)]),
        _flag(6, "billing-redesign", [_cond([], 10)]),
        _flag(7, "onboarding-checklist", [_cond([], 75)]),
        _flag(8, "realtime-updates", [_cond([], 90)]),
        _flag(9, "new-editor", [_cond([], 5)]),
        _flag(10, "pdf-reports", [_cond([], 60)]),
        # Targeting on person properties, one operator family after another.
        _flag(11, "pro-features", [_cond([_p("plan", "exact", ["pro", "enterprise"])])]),
        _flag(12, "not-free", [_cond([_p("plan", "is_not", "free")], 80)]),
        _flag(13, "internal-users", [_cond([_p("email", "icontains", "@acme-corp.com")])]),
        _flag(14, "external-users", [_cond([_p("email", "not_icontains", "@devflow.dev")], 50)]),
        _flag(15, "gmail-users", [_cond([_p("email", "regex", r"^[^@]+@gmail\.com$")])]),
        _flag(16, "non-test-accounts", [_cond([_p("email", "not_regex", r"^test[0-9]*@")])]),
        _flag(17, "adults", [_cond([_p("age", "gte", 18)])]),
        _flag(18, "big-teams", [_cond([_p("seats", "gt", 10)], 70)]),
        _flag(19, "small-ltv", [_cond([_p("ltv", "lt", 100)])]),
        _flag(20, "young-users", [_cond([_p("age", "lte", 25)])]),
        _flag(21, "has-role", [_cond([_p("role", "is_set")])]),
        _flag(22, "no-referrer", [_cond([_p("referrer", "is_not_set")])]),
        _flag(23, "early-adopters", [_cond([_p("signup_date", "is_date_before", "2024-01-01")])]),
        _flag(24, "recently-active", [_cond([_p("last_seen", "is_date_after", "-365d")])]),
        _flag(
            25,
            "chrome-on-mac",
            [_cond([_p("browser", "exact", "chrome"), _p("os", "icontains", "mac")])],
        ),
        _flag(26, "new-app-version", [_cond([_p("app_version", "semver_gte", "2.10.0")])]),
        _flag(27, "beta-testers", [_cond([_p("beta_opt_in", "exact", ["true"])])]),
        _flag(28, "newsletter-campaign", [_cond([_p("utm_source", "starts_with", "news")], 50)]),
        _flag(
            29,
            "dach-region",
            [_cond([_p("country", "exact", ["DE", "AT", "CH"]), _p("age", "gt", 21)])],
        ),
        _flag(
            30,
            "admins-or-owners",
            [_cond([_p("role", "exact", "owner")]), _cond([_p("role", "exact", "admin")], 50)],
        ),
        # Several conditions, first match wins.
        _flag(
            31,
            "tiered-rollout",
            [
                _cond([_p("plan", "exact", "enterprise")]),
                _cond([_p("plan", "exact", "pro")], 30),
                _cond([], 5),
            ],
        ),
        _flag(
            32,
            "city-launch",
            [
                _cond([_p("city", "exact", ["Paris", "Lyon"])]),
                _cond([_p("city", "icontains", "berl")], 40),
            ],
        ),
        _flag(
            33,
            "mobile-web",
            [
                _cond([_p("os", "exact", ["iOS", "Android"])]),
                _cond([_p("browser", "regex", "Mobile")]),
            ],
        ),
        _flag(
            34,
            "power-users",
            [
                _cond([_p("seats", "gte", 50)]),
                _cond([_p("ltv", "gt", 1000), _p("plan", "is_not", "free")], 25),
            ],
        ),
        _flag(
            35,
            "legacy-cleanup",
            [
                _cond([_p("app_version", "semver_lt", "2.0.0")]),
                _cond([_p("signup_date", "is_date_before", "2020-01-01")]),
            ],
        ),
        # Multivariate experiments with payloads.
        _flag(
            36,
            "pricing-page-test",
            [_cond([], 100)],
            variants=ab,
            payloads={"control": json.dumps({"price": 29}), "test": json.dumps({"price": 25})},
        ),
        _flag(
            37,
            "checkout-flow",
            [_cond([_p("plan", "is_not", "free")], 100)],
            variants=abc,
            payloads={"variant-a": json.dumps({"steps": 2}), "variant-b": json.dumps({"steps": 1})},
        ),
        _flag(38, "homepage-hero", [_cond([], 50)], variants=abc),
        _flag(
            39,
            "onboarding-copy",
            [_cond([_p("email", "icontains", "acme")], 100, variant="test"), _cond([], 100)],
            variants=ab,
            payloads={"test": json.dumps({"headline": "Welcome back"})},
        ),
        _flag(
            40,
            "search-ranking",
            [_cond([_p("age", "gt", 30)], 100)],
            variants=[("bm25", 50), ("vector", 25), ("hybrid", 25)],
            payloads={"vector": json.dumps({"k": 40})},
        ),
        _flag(
            41,
            "email-digest",
            [_cond([], 80)],
            variants=[("daily", 20), ("weekly", 70), ("off", 10)],
            payloads={"daily": '"08:00"', "weekly": '"monday"'},
        ),
        _flag(
            42,
            "ai-assistant",
            [_cond([_p("plan", "exact", ["pro", "enterprise"])], 60)],
            variants=ab,
            payloads={"test": json.dumps({"model": "small"})},
        ),
        # Payload on a boolean flag.
        _flag(
            43,
            "banner-message",
            [_cond([_p("country", "exact", "DE")], 100)],
            payloads={"true": json.dumps({"text": "Hallo!"})},
        ),
        # A cohort.
        _flag(
            44, "eu-paid-promo", [_cond([{"key": "id", "type": "cohort", "value": cohort_id}], 100)]
        ),
        # A group flag (company).
        _flag(
            45,
            "company-sso",
            [_cond([_p("employees", "gt", 100, "group") | {"group_type_index": 0}], 100)],
            aggregation=0,
        ),
        # A flag depending on another, referenced by key (ids are assigned by the server).
        _flag(
            46,
            "dark-mode-themes",
            [
                _cond(
                    [
                        {
                            "key": "dark-mode",
                            "type": "flag",
                            "operator": "flag_evaluates_to",
                            "value": True,
                        }
                    ],
                    100,
                )
            ],
        ),
        # Switched off.
        _flag(47, "old-experiment", [_cond([], 100)], active=False),
        _flag(48, "deprecated-widget", [_cond([_p("plan", "exact", "pro")])], active=False),
        _flag(49, "holiday-theme", [_cond([], 100)], active=False),
        _flag(50, "maintenance-mode", [_cond([_p("role", "exact", "admin")], 0)]),
    ]
    assert len(out) == 50
    return out


def definitions() -> dict[str, Any]:
    """The whole local-evaluation document (for our engine)."""
    return {
        "flags": flags(),
        "cohorts": {str(COHORT_ID): COHORT},
        "group_type_mapping": GROUP_TYPE_MAPPING,
    }


def served_flags() -> list[dict[str, Any]]:
    """The flags as PostHog serves them to SDKs: dependencies by key, with their chain."""
    from devflow_sdk.flags import with_dependency_chains

    return with_dependency_chains(flags())


# --- GrowthBook ----------------------------------------------------------------------------------

_GB_OPERATORS = {
    "gt": "$gt",
    "gte": "$gte",
    "lt": "$lt",
    "lte": "$lte",
    "semver_gte": "$vgte",
    "semver_lt": "$vlt",
}


def _gb_condition(prop: dict[str, Any], cohort: dict[str, Any]) -> dict[str, Any]:
    """One PostHog filter as a GrowthBook condition (same meaning on this data)."""
    kind, key, op, value = (
        prop["type"],
        prop["key"],
        prop.get("operator", "exact"),
        prop.get("value"),
    )
    if kind == "cohort":
        return _gb_group(cohort, cohort)
    if kind == "group":
        key = f"company_{key}"
    values = value if isinstance(value, list) else [value]
    if op == "exact":
        cond: dict[str, Any] = {key: {"$ini": [str(v) for v in values]}}
    elif op == "is_not":
        cond = {key: {"$nini": [str(v) for v in values]}}
    elif op == "icontains":
        cond = {key: {"$regexi": re.escape(str(value))}}
    elif op == "not_icontains":
        cond = {key: {"$not": {"$regexi": re.escape(str(value))}}}
    elif op == "starts_with":
        cond = {key: {"$regexi": "^" + re.escape(str(value))}}
    elif op == "regex":
        cond = {key: {"$regex": value}}
    elif op == "not_regex":
        cond = {key: {"$notRegex": value}}
    elif op == "is_set":
        cond = {key: {"$exists": True}}
    elif op == "is_not_set":
        cond = {key: {"$exists": False}}
    elif op == "is_date_before":
        cond = {key: {"$lt": value}}
    elif op == "is_date_after":
        cond = {
            key: {"$gt": "2023-05-20"}
        }  # "-365d" resolved once: GrowthBook has no relative dates
    else:
        cond = {key: {_GB_OPERATORS[op]: value}}
    return {"$not": cond} if prop.get("negation") else cond


def _gb_group(group: dict[str, Any], cohort: dict[str, Any]) -> dict[str, Any]:
    parts = [
        _gb_group(v, cohort) if "values" in v else _gb_condition(v, cohort) for v in group["values"]
    ]
    return {"$and" if group["type"] == "AND" else "$or": parts}


def growthbook_features() -> dict[str, Any]:
    """The same 50 flags as GrowthBook features."""
    features: dict[str, Any] = {}
    for flag in flags():
        filters = flag["filters"]
        variants = (filters.get("multivariate") or {}).get("variants") or []
        payloads = filters.get("payloads") or {}
        hash_attribute = "company_id" if filters.get("aggregation_group_type_index") == 0 else "id"
        rules = []
        for cond in filters["groups"] if flag["active"] else []:
            rule: dict[str, Any] = {"hashAttribute": hash_attribute}
            props = [p for p in cond["properties"] if p["type"] != "flag"]
            if props:
                rule["condition"] = {"$and": [_gb_condition(p, COHORT) for p in props]}
            if any(p["type"] == "flag" for p in cond["properties"]):
                rule["parentConditions"] = [{"id": "dark-mode", "condition": {"value": True}}]
            coverage = (
                cond["rollout_percentage"] if cond["rollout_percentage"] is not None else 100
            ) / 100
            if variants and not cond.get("variant"):
                rule |= {
                    "key": flag["key"],
                    "variations": [payloads.get(v["key"], v["key"]) for v in variants],
                    "weights": [v["rollout_percentage"] / 100 for v in variants],
                    "coverage": coverage,
                }
            else:
                forced = cond.get("variant") or True
                rule |= {
                    "force": payloads.get(forced, forced) if variants else forced,
                    "coverage": coverage,
                }
            rules.append(rule)
        features[flag["key"]] = {"defaultValue": False, "rules": rules}
    return features


def growthbook_attributes() -> dict[str, Any]:
    company = {f"company_{k}": v for k, v in GROUP_PROPERTIES["company"].items()}
    return {"id": DISTINCT_ID, "company_id": GROUPS["company"], **PERSON, **company}
