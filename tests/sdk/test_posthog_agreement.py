"""Our engine agrees with posthog-python's local evaluation on a generated corpus.

Every (flag, user) pair of a seeded corpus is evaluated by both: posthog's
``Client._compute_flag_locally`` (the function its ``get_feature_flag`` and ``get_all_flags`` use
for local evaluation, fed with definitions as PostHog serves them) and ``FlagSet.evaluate`` with
``complete=False`` (fed with definitions as the admin API stores them: dependencies by id). The
values, the payloads and the inconclusive verdicts must all be the same.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from devflow_sdk.flags import Evaluation, FlagSet
from posthog import Client
from posthog.feature_flags import InconclusiveMatchError, RequiresServerEvaluation, match_property

from tests.sdk import _corpus

SEED = 20240917
FLAG_COUNT = 170  # plus one baseline flag per operator
USER_COUNT = 1000
INCONCLUSIVE = "<inconclusive>"
ERROR = "<error>"


@pytest.fixture(scope="module")
def corpus() -> dict[str, Any]:
    rng = random.Random(SEED)
    flags = _corpus.flags(rng, FLAG_COUNT)
    return {
        "flags": flags,
        "served": _corpus.served(flags),
        "cohorts": _corpus._cohorts(rng),
        "users": _corpus.users(rng, USER_COUNT),
    }


@pytest.fixture(scope="module")
def posthog_client(corpus: dict[str, Any]) -> Client:
    client = Client("phc_agreement_test", send=False, sync_mode=True, enable_local_evaluation=False)
    client.feature_flags = corpus["served"]
    client.cohorts = corpus["cohorts"]
    client.group_type_mapping = _corpus.GROUP_TYPES
    return client


def _posthog(client: Client, flag: dict[str, Any], user: dict[str, Any]) -> tuple[Any, Any]:
    try:
        value = client._compute_flag_locally(
            flag,
            user["distinct_id"],
            groups=user["groups"],
            person_properties=user["person"],
            group_properties=user["group_props"],
            warn_on_unknown_groups=False,
            device_id=user["device_id"],
        )
    except (InconclusiveMatchError, RequiresServerEvaluation):
        return INCONCLUSIVE, None
    except Exception:
        return ERROR, None
    payload = client._compute_payload_locally(flag["key"], value) if value else None
    return value, payload


@pytest.fixture(scope="module")
def expected(corpus: dict[str, Any], posthog_client: Client) -> list[dict[str, tuple[Any, Any]]]:
    """posthog's (value, payload) for every user and flag, in corpus order."""
    return [
        {flag["key"]: _posthog(posthog_client, flag, user) for flag in corpus["served"]}
        for user in corpus["users"]
    ]


def _ours(result: Evaluation) -> tuple[Any, Any]:
    if result.inconclusive:
        return INCONCLUSIVE, None
    if result.reason == "error":
        return ERROR, None
    return result.value, result.payload


@pytest.mark.parametrize("shape", ["stored", "served"])
@pytest.mark.parametrize("api", ["evaluate", "evaluate_all"])
def test_engine_agrees_with_posthog_local_evaluation(
    corpus: dict[str, Any], expected: list[dict[str, tuple[Any, Any]]], shape: str, api: str
) -> None:
    # "stored": dependencies by id, chains computed by the engine; "served": as posthog gets them.
    flags = corpus["flags"] if shape == "stored" else corpus["served"]
    ours = FlagSet(flags, corpus["cohorts"], _corpus.GROUP_TYPES)
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    disagreements = []
    compared = 0
    for user, theirs in zip(corpus["users"], expected, strict=True):
        context = {
            "person_properties": user["person"],
            "groups": user["groups"],
            "group_properties": user["group_props"],
            "device_id": user["device_id"],
        }
        if api == "evaluate_all":
            results = ours.evaluate_all(user["distinct_id"], **context)
        else:
            results = {}
            for key in theirs:
                result = ours.evaluate(key, user["distinct_id"], **context)
                assert result is not None
                results[key] = result
        assert list(results) == list(theirs)
        for key, result in results.items():
            got = _ours(result)
            compared += 1
            reasons[result.reason] += 1
            outcomes[_kind(got[0])] += 1
            if got != theirs[key]:
                disagreements.append((key, user["distinct_id"], theirs[key], got, result))
    print(f"\nposthog agreement ({shape}, {api}): {compared} (flag, user) pairs, {dict(outcomes)}")
    assert not disagreements, f"{len(disagreements)} disagreements, first: {disagreements[:5]}"
    assert compared >= 100_000
    # The corpus must exercise every kind of outcome, or the comparison proves little.
    for kind in ("true", "false", "variant", "inconclusive"):
        assert outcomes[kind] > 100, outcomes
    for reason in ("condition_match", "no_condition_match", "out_of_rollout_bound"):
        assert reasons[reason] > 100, reasons
    assert reasons["no_group_type"] > 0
    assert reasons["flag_disabled"] > 0


def _kind(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value in (INCONCLUSIVE, ERROR):
        return value.strip("<>")
    return "variant"


def test_corpus_exercises_every_operator_both_ways(corpus: dict[str, Any]) -> None:
    """Each operator of the corpus matches some users and fails others (decided by posthog
    itself), so the agreement above covers both outcomes of every operator."""
    seen: dict[str, Counter[str]] = {}
    filters = [
        prop
        for flag in corpus["flags"]
        for cond in flag["filters"]["groups"]
        for prop in cond["properties"]
        if prop.get("type") in ("person", "group")
    ]
    for user in corpus["users"][:200]:
        for prop in filters:
            values = (
                user["person"]
                if prop["type"] == "person"
                else next(iter(user["group_props"].values()), {})
            )
            try:
                outcome = "match" if match_property(prop, values) else "no match"
            except InconclusiveMatchError:
                outcome = "inconclusive"
            operator = prop.get("operator") or "exact"
            seen.setdefault(operator, Counter())[outcome] += 1
    for operator in _corpus.OPERATORS:
        # Locally a missing property is inconclusive, so is_set never fails and is_not_set never
        # matches: their other outcome is "inconclusive".
        outcomes = seen[operator]
        assert outcomes["match"] + (operator == "is_not_set") * outcomes["inconclusive"] > 0
        assert outcomes["no match"] + (operator == "is_set") * outcomes["inconclusive"] > 0
    assert sum(c["inconclusive"] for c in seen.values()) > 0
