"""The admin API of flags: CRUD, optimistic concurrency, history with diffs, ``as_of`` reads,
archive/restore, and every kind of bad input (malformed, missing, oversized, unauthorized)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.flags.factories import admin, create, fields, multivariate_flag, rollout_flag


def test_create_get_list(http: httpx.Client, project: Any) -> None:
    made = create(http, project, rollout_flag("new-checkout", 25))
    assert set(made) >= {
        "id",
        "key",
        "name",
        "active",
        "filters",
        "version",
        "created_at",
        "updated_at",
    }
    assert made["version"] == 1
    assert made["active"] is True
    r = http.get("/api/feature_flags/new-checkout", headers=admin(project))
    assert r.status_code == 200
    assert r.json() == made
    assert r.headers["etag"] == '"1"'
    listed = http.get("/api/feature_flags", headers=admin(project)).json()
    assert [f["key"] for f in listed["results"]] == ["new-checkout"]
    assert listed["count"] == 1


def test_patch_is_partial_and_versions(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("beta", 10))
    r = http.patch("/api/feature_flags/beta", json={"name": "Beta"}, headers=admin(project))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Beta"
    assert body["version"] == 2
    assert body["filters"]["groups"][0]["rollout_percentage"] == 10  # untouched
    # A PATCH that changes nothing makes no new version.
    same = http.patch("/api/feature_flags/beta", json={"name": "Beta"}, headers=admin(project))
    assert same.json()["version"] == 2


def test_if_match_conflict(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("race", 10))
    ok = http.patch(
        "/api/feature_flags/race",
        json={"active": False},
        headers=admin(project, **{"If-Match": '"1"'}),
    )
    assert ok.status_code == 200
    assert ok.json()["version"] == 2
    stale = http.patch(
        "/api/feature_flags/race",
        json={"active": True},
        headers=admin(project, **{"If-Match": '"1"'}),
    )
    assert stale.status_code == 409
    assert stale.headers["etag"] == '"2"'
    assert fields(stale) == ["If-Match"]
    bad = http.patch(
        "/api/feature_flags/race",
        json={"active": True},
        headers=admin(project, **{"If-Match": "x"}),
    )
    assert bad.status_code == 400
    assert fields(bad) == ["If-Match"]
    assert http.get("/api/feature_flags/race", headers=admin(project)).json()["active"] is False


def test_history_with_diffs_and_actor(http: httpx.Client, project: Any) -> None:
    create(
        http,
        project,
        {**rollout_flag("hist", 10), "reason": "launch"},
        **{"X-Devflow-Actor": "ana"},
    )
    http.patch(
        "/api/feature_flags/hist",
        json={
            "filters": {"groups": [{"properties": [], "rollout_percentage": 50}]},
            "reason": "ramp",
        },
        headers=admin(project, **{"X-Devflow-Actor": "ben"}),
    )
    http.delete("/api/feature_flags/hist", params={"reason": "done"}, headers=admin(project))
    http.post("/api/feature_flags/hist/restore", headers=admin(project))
    r = http.get("/api/feature_flags/hist/history", headers=admin(project))
    assert r.status_code == 200
    changes = r.json()["results"]
    assert [c["kind"] for c in changes] == ["create", "rollout", "archive", "restore"]
    assert [c["version"] for c in changes] == [1, 2, 3, 4]
    assert [c["actor"] for c in changes] == ["ana", "ben", "api", "api"]
    assert [c["reason"] for c in changes] == ["launch", "ramp", "done", ""]
    assert changes[1]["diff"] == [
        {"path": "filters.groups[0].rollout_percentage", "before": 10, "after": 50}
    ]
    assert changes[2]["diff"] == [{"path": "archived", "before": False, "after": True}]
    assert changes[3]["definition"]["filters"]["groups"][0]["rollout_percentage"] == 50


def test_archive_hides_and_restore_returns(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("gone", 100))
    r = http.delete("/api/feature_flags/gone", headers=admin(project))
    assert r.status_code == 200
    assert r.json()["archived"] is True
    assert http.get("/api/feature_flags", headers=admin(project)).json()["count"] == 0
    archived = http.get("/api/feature_flags", params={"archived": "true"}, headers=admin(project))
    assert [f["key"] for f in archived.json()["results"]] == ["gone"]
    # Archived flags are not evaluated and can't be edited until restored.
    assert (
        http.post("/flags/?v=2", json={"api_key": project.token, "distinct_id": "u"}).json()[
            "flags"
        ]
        == {}
    )
    edit = http.patch("/api/feature_flags/gone", json={"name": "x"}, headers=admin(project))
    assert edit.status_code == 409
    # The key stays taken.
    dup = http.post("/api/feature_flags", json=rollout_flag("gone"), headers=admin(project))
    assert dup.status_code == 400
    assert fields(dup) == ["key"]
    assert (
        http.post("/api/feature_flags/gone/restore", headers=admin(project)).json()["archived"]
        is False
    )


def test_as_of_returns_the_definition_in_force(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("timey", 10))
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    http.patch("/api/feature_flags/timey", json={"rollout_percentage": 90}, headers=admin(project))
    then = http.get(
        "/api/feature_flags/timey", params={"as_of": between.isoformat()}, headers=admin(project)
    )
    assert then.status_code == 200
    assert then.json()["version"] == 1
    assert then.json()["filters"]["groups"][0]["rollout_percentage"] == 10
    now = http.get("/api/feature_flags/timey", headers=admin(project)).json()
    assert now["version"] == 2
    assert now["filters"]["groups"][0]["rollout_percentage"] == 90
    listed = http.get(
        "/api/feature_flags", params={"as_of": between.isoformat()}, headers=admin(project)
    )
    assert [f["version"] for f in listed.json()["results"]] == [1]
    before = http.get(
        "/api/feature_flags/timey", params={"as_of": "2001-01-01T00:00:00Z"}, headers=admin(project)
    )
    assert before.status_code == 404
    assert fields(before) == ["as_of"]
    bad = http.get(
        "/api/feature_flags/timey", params={"as_of": "yesterday"}, headers=admin(project)
    )
    assert bad.status_code == 400
    assert fields(bad) == ["as_of"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "key": "ok",
                "filters": {
                    "groups": [
                        {
                            "properties": [
                                {"key": "a", "value": 1, "operator": "between", "type": "person"}
                            ]
                        }
                    ]
                },
            },
            "filters.groups[0].properties[0].operator",
        ),
        (
            {
                "key": "ok",
                "filters": {
                    "groups": [
                        {
                            "properties": [
                                {"key": "a", "value": "(", "operator": "regex", "type": "person"}
                            ]
                        }
                    ]
                },
            },
            "filters.groups[0].properties[0].value",
        ),
        (
            {"key": "ok", "filters": {"groups": [{"properties": [], "rollout_percentage": 101}]}},
            "filters.groups[0].rollout_percentage",
        ),
        (
            {"key": "ok", "filters": {"groups": [{"properties": [], "rollout_percentage": -1}]}},
            "filters.groups[0].rollout_percentage",
        ),
        (
            {
                "key": "ok",
                "filters": {"groups": [{"properties": [], "rollout_percentage": "half"}]},
            },
            "filters.groups[0].rollout_percentage",
        ),
        (multivariate_flag("ok", {"a": 50, "b": 40}, {}), "filters.multivariate.variants"),
        ({"key": "has space"}, "key"),
        ({"name": "no key"}, "key"),
        ({"key": "ok", "colour": "red"}, "colour"),
        (
            {
                "key": "ok",
                "filters": {
                    "groups": [{"properties": [{"key": "x", "type": "cohort", "value": 999999}]}]
                },
            },
            "filters.groups[0].properties[0].value",
        ),
        (
            {
                "key": "ok",
                "filters": {
                    "groups": [
                        {
                            "properties": [
                                {
                                    "key": "999999",
                                    "type": "flag",
                                    "value": True,
                                    "operator": "flag_evaluates_to",
                                }
                            ]
                        }
                    ]
                },
            },
            "filters.groups[0].properties[0].key",
        ),
        (
            {"key": "ok", "filters": {"aggregation_group_type_index": 3, "groups": []}},
            "filters.aggregation_group_type_index",
        ),
    ],
    ids=[
        "operator",
        "regex",
        "over-100",
        "negative",
        "not-number",
        "variants-sum",
        "key-format",
        "key-missing",
        "unknown-field",
        "unknown-cohort",
        "unknown-dependency",
        "unknown-group-type",
    ],
)
def test_invalid_definitions_name_the_field(
    http: httpx.Client, project: Any, body: dict[str, Any], field: str
) -> None:
    r = http.post("/api/feature_flags", json=body, headers=admin(project))
    assert r.status_code == 400, r.text
    assert field in fields(r)
    assert http.get("/api/feature_flags", headers=admin(project)).json()["count"] == 0


def test_dependency_cycle_refused(http: httpx.Client, project: Any) -> None:
    a = create(http, project, rollout_flag("a"))
    dep_on_a = {"key": str(a["id"]), "type": "flag", "value": True, "operator": "flag_evaluates_to"}
    b = create(
        http,
        project,
        {
            "key": "b",
            "filters": {"groups": [{"properties": [dep_on_a], "rollout_percentage": 100}]},
        },
    )
    dep_on_b = {"key": str(b["id"]), "type": "flag", "value": True, "operator": "flag_evaluates_to"}
    r = http.patch(
        "/api/feature_flags/a",
        json={"filters": {"groups": [{"properties": [dep_on_b], "rollout_percentage": 100}]}},
        headers=admin(project),
    )
    assert r.status_code == 400, r.text
    assert "cycle" in r.json()["errors"][0]["reason"]
    # A flag others depend on can't be archived from under them.
    assert http.delete("/api/feature_flags/a", headers=admin(project)).status_code == 409


def test_malformed_oversized_and_unauthorized(http: httpx.Client, project: Any) -> None:
    r = http.post("/api/feature_flags", content=b"{not json", headers=admin(project))
    assert r.status_code == 400
    assert fields(r) == ["body"]
    r = http.post("/api/feature_flags", content=b"", headers=admin(project))
    assert r.status_code == 400
    assert fields(r) == ["body"]
    r = http.post("/api/feature_flags", json=[1, 2], headers=admin(project))
    assert r.status_code == 400
    assert fields(r) == ["body"]
    huge = rollout_flag("big", name="x" * (2 * 1024 * 1024))
    r = http.post("/api/feature_flags", json=huge, headers=admin(project))
    assert r.status_code == 413
    assert fields(r) == ["body"]
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {project.token}"},
    ):
        r = http.post("/api/feature_flags", json=rollout_flag("x"), headers=headers)
        assert r.status_code == 401
        assert fields(r) == ["Authorization"]
        assert http.get("/api/feature_flags", headers=headers).status_code == 401
    missing = http.get("/api/feature_flags/nope", headers=admin(project))
    assert missing.status_code == 404
    assert fields(missing) == ["key"]
    assert http.get("/api/feature_flags", headers=admin(project)).json()["count"] == 0


def test_projects_are_isolated(http: httpx.Client, stack: Any, project: Any) -> None:
    other = stack.project("other")
    create(http, project, rollout_flag("mine"))
    assert http.get("/api/feature_flags/mine", headers=admin(other)).status_code == 404
    assert create(http, other, rollout_flag("mine"))["key"] == "mine"  # keys are per project
