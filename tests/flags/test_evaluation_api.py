"""Remote evaluation: ``/flags`` (v2 to v4) and ``/decide``, with properties from the persons
projection, groups, cohorts and the billing/churn traits, and the bad-input contract."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import nats
import pytest

from schemas.traits import ChurnScored, SubscriptionChanged
from tests.flags.factories import (
    admin,
    create,
    evaluate,
    fields,
    multivariate_flag,
    property_flag,
    rollout_flag,
)
from tests.support import Stack, wait_for


def _capture(http: httpx.Client, project: Any, event: str, distinct_id: str, **props: Any) -> None:
    r = http.post(
        "/capture/",
        json={
            "api_key": project.token,
            "event": event,
            "distinct_id": distinct_id,
            "properties": props,
        },
    )
    assert r.status_code == 200, r.text


def test_flags_response_shape(http: httpx.Client, project: Any) -> None:
    made = create(
        http,
        project,
        multivariate_flag(
            "mv", {"control": 50, "test": 50}, {"test": '{"color": "red"}', "control": '"plain"'}
        ),
    )
    create(http, project, rollout_flag("off", 0))
    create(http, project, rollout_flag("on", 100, active=False))
    body = evaluate(http, project, "user-1")
    assert body["errorsWhileComputingFlags"] is False
    assert body["requestId"]
    mv = body["flags"]["mv"]
    assert mv["enabled"] is True
    assert mv["variant"] in ("control", "test")
    assert mv["reason"] == {
        "code": "condition_match",
        "condition_index": 0,
        "description": mv["reason"]["description"],
    }
    assert mv["metadata"]["id"] == made["id"]
    assert mv["metadata"]["version"] == 1
    assert json.loads(mv["metadata"]["payload"]) == (
        {"color": "red"} if mv["variant"] == "test" else "plain"
    )
    assert body["flags"]["off"]["enabled"] is False
    assert body["flags"]["off"]["reason"]["code"] == "out_of_rollout_bound"
    assert body["flags"]["on"]["enabled"] is False
    for path in ("/flags", "/flags/?v=3", "/flags/?v=4"):
        again = http.post(path, json={"token": project.token, "distinct_id": "user-1"}).json()
        assert again["flags"]["mv"]["variant"] == mv["variant"]
    decide = http.post(
        "/decide/?v=3", json={"api_key": project.token, "distinct_id": "user-1"}
    ).json()
    assert decide["featureFlags"] == {"mv": mv["variant"], "off": False, "on": False}
    assert decide["featureFlagPayloads"] == {"mv": mv["metadata"]["payload"]}


def test_gzip_body_and_flag_keys_filter(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("one"))
    create(http, project, rollout_flag("two"))
    raw = gzip.compress(
        json.dumps(
            {"api_key": project.token, "distinct_id": "z", "flag_keys_to_evaluate": ["two"]}
        ).encode()
    )
    r = http.post(
        "/flags/?v=2",
        content=raw,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert list(r.json()["flags"]) == ["two"]


def test_person_properties_from_identify_and_request_wins(http: httpx.Client, project: Any) -> None:
    create(http, project, property_flag("pro", "tier", "pro"))
    _capture(http, project, "$identify", "ada", **{"$set": {"tier": "pro"}})
    wait_for(lambda: evaluate(http, project, "ada")["flags"]["pro"]["enabled"])
    overridden = evaluate(http, project, "ada", person_properties={"tier": "free"})
    assert overridden["flags"]["pro"]["enabled"] is False
    # Another distinct id of the same person sees the same properties.
    _capture(http, project, "$create_alias", "ada", alias="ada@example.com")
    wait_for(lambda: evaluate(http, project, "ada@example.com")["flags"]["pro"]["enabled"])
    assert (
        evaluate(http, project, "stranger")["flags"]["pro"]["reason"]["code"]
        == "no_condition_match"
    )


def test_group_flags(http: httpx.Client, project: Any) -> None:
    r = http.put("/api/group_types/0", json={"group_type": "company"}, headers=admin(project))
    assert r.status_code == 200, r.text
    body = {
        "key": "big-co",
        "filters": {
            "aggregation_group_type_index": 0,
            "groups": [
                {
                    "properties": [
                        {
                            "key": "seats",
                            "value": 100,
                            "operator": "gte",
                            "type": "group",
                            "group_type_index": 0,
                        }
                    ],
                    "rollout_percentage": 100,
                }
            ],
        },
    }
    create(http, project, body)
    _capture(
        http,
        project,
        "$groupidentify",
        "u1",
        **{"$group_type": "company", "$group_key": "acme", "$group_set": {"seats": 250}},
    )
    wait_for(
        lambda: evaluate(http, project, "u1", groups={"company": "acme"})["flags"]["big-co"][
            "enabled"
        ]
    )
    assert (
        evaluate(
            http,
            project,
            "u1",
            groups={"company": "tiny"},
            group_properties={"company": {"seats": 3}},
        )["flags"]["big-co"]["enabled"]
        is False
    )
    assert evaluate(http, project, "u1")["flags"]["big-co"]["reason"]["code"] == "no_group_type"


def test_static_and_dynamic_cohorts(http: httpx.Client, project: Any) -> None:
    static = http.post(
        "/api/cohorts",
        json={"name": "beta testers", "is_static": True, "distinct_ids": ["s1", "s2"]},
        headers=admin(project),
    )
    assert static.status_code == 201, static.text
    assert static.json()["count"] == 2
    dynamic = http.post(
        "/api/cohorts",
        json={
            "name": "eu",
            "filters": {
                "properties": {
                    "type": "OR",
                    "values": [
                        {
                            "type": "AND",
                            "values": [
                                {
                                    "key": "region",
                                    "value": "eu",
                                    "operator": "exact",
                                    "type": "person",
                                }
                            ],
                        }
                    ],
                }
            },
        },
        headers=admin(project),
    )
    assert dynamic.status_code == 201, dynamic.text
    for key, cohort in (("static-flag", static.json()), ("dynamic-flag", dynamic.json())):
        create(
            http,
            project,
            {
                "key": key,
                "filters": {
                    "groups": [
                        {
                            "properties": [{"key": "id", "type": "cohort", "value": cohort["id"]}],
                            "rollout_percentage": 100,
                        }
                    ]
                },
            },
        )
    assert evaluate(http, project, "s1")["flags"]["static-flag"]["enabled"] is True
    assert evaluate(http, project, "s3")["flags"]["static-flag"]["enabled"] is False
    assert (
        evaluate(http, project, "d1", person_properties={"region": "eu"})["flags"]["dynamic-flag"][
            "enabled"
        ]
        is True
    )
    assert (
        evaluate(http, project, "d1", person_properties={"region": "us"})["flags"]["dynamic-flag"][
            "enabled"
        ]
        is False
    )
    # Local evaluation receives the dynamic cohort, not the static list.
    defs = http.get(
        "/api/feature_flag/local_evaluation",
        params={"token": project.token, "send_cohorts": ""},
        headers=admin(project),
    ).json()
    assert list(defs["cohorts"]) == [str(dynamic.json()["id"])]
    # A cohort in use can't be deleted.
    assert (
        http.delete(f"/api/cohorts/{static.json()['id']}", headers=admin(project)).status_code
        == 409
    )


async def test_plan_and_churn_traits_from_nats(
    http: httpx.Client, project: Any, stack: Stack
) -> None:
    create(http, project, property_flag("enterprise", "$plan", "enterprise"))
    create(http, project, property_flag("at-risk", "churn_risk", 0.7, operator="gt"))
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        now = datetime.now(UTC)
        plan = SubscriptionChanged(
            project_id=project.id,
            plan="enterprise",
            status="active",
            changed_at=now,
            distinct_id="cust",
        )
        await js.publish(f"billing.{project.id}.subscription", msgspec.json.encode(plan))
        score = ChurnScored(
            project_id=project.id, distinct_id="cust", score=0.9, model_version="t", scored_at=now
        )
        await js.publish(f"churn.scores.{project.id}", msgspec.json.encode(score))
    finally:
        await nc.close()

    def both() -> bool:
        flags = evaluate(http, project, "cust")["flags"]
        return bool(flags["enterprise"]["enabled"] and flags["at-risk"]["enabled"])

    wait_for(both)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"api_key": "TOKEN"}, 400, "distinct_id"),
        ({"api_key": "TOKEN", "distinct_id": ""}, 400, "distinct_id"),
        ({"api_key": "TOKEN", "distinct_id": {"a": 1}}, 400, "distinct_id"),
        ({"api_key": "TOKEN", "distinct_id": "u", "groups": ["x"]}, 400, "groups"),
        (
            {"api_key": "TOKEN", "distinct_id": "u", "person_properties": "x"},
            400,
            "person_properties",
        ),
        ({"distinct_id": "u"}, 401, "api_key"),
        ({"api_key": "phc_unknown", "distinct_id": "u"}, 401, "api_key"),
    ],
    ids=[
        "missing-id",
        "empty-id",
        "object-id",
        "groups-list",
        "props-string",
        "no-token",
        "bad-token",
    ],
)
def test_bad_evaluation_input(
    http: httpx.Client, project: Any, body: dict[str, Any], status: int, field: str
) -> None:
    body = {k: (project.token if v == "TOKEN" else v) for k, v in body.items()}
    r = http.post("/flags/?v=2", json=body)
    assert r.status_code == status, r.text
    assert field in fields(r)


def test_malformed_and_oversized_evaluation(http: httpx.Client, project: Any) -> None:
    assert fields(
        http.post("/flags/?v=2", content=b"{oops", headers={"Content-Type": "application/json"})
    ) == ["body"]
    assert (
        http.post("/flags/?v=9", json={"api_key": project.token, "distinct_id": "u"}).status_code
        == 400
    )
    huge = {
        "api_key": project.token,
        "distinct_id": "u",
        "person_properties": {"x": "y" * (21 * 1024 * 1024)},
    }
    assert http.post("/flags/?v=2", json=huge).status_code == 413
