"""Every flags endpoint refuses unauthorized, malformed, missing and oversized input with a
problem+json body naming the field, and keeps nothing from a refused request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.flags.factories import admin, create, fields, rollout_flag

# (method, path, body) for every admin endpoint; "{key}" is a flag that exists.
ADMIN = [
    ("GET", "/api/feature_flags", None),
    ("POST", "/api/feature_flags", rollout_flag("x")),
    ("GET", "/api/feature_flags/{key}", None),
    ("PATCH", "/api/feature_flags/{key}", {"name": "y"}),
    ("DELETE", "/api/feature_flags/{key}", None),
    ("POST", "/api/feature_flags/{key}/restore", None),
    ("GET", "/api/feature_flags/{key}/history", None),
    ("GET", "/api/feature_flags/{key}/schedules", None),
    (
        "POST",
        "/api/feature_flags/{key}/schedules",
        {"run_at": "2030-01-01T00:00:00Z", "change": {"active": False}},
    ),
    ("DELETE", "/api/feature_flags/{key}/schedules/1", None),
    ("GET", "/api/cohorts", None),
    ("POST", "/api/cohorts", {"name": "c", "is_static": True, "distinct_ids": ["a"]}),
    ("GET", "/api/cohorts/1", None),
    ("PATCH", "/api/cohorts/1", {"name": "d"}),
    ("DELETE", "/api/cohorts/1", None),
    ("GET", "/api/group_types", None),
    ("PUT", "/api/group_types/0", {"group_type": "company"}),
    ("GET", "/flags/definitions", None),
    ("GET", "/api/feature_flag/local_evaluation", None),
    ("GET", "/api/feature_flags/stream", None),
]
WITH_BODY = [(m, p) for m, p, b in ADMIN if b is not None]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN, ids=[f"{m} {p}" for m, p, _ in ADMIN])
def test_unauthorized(http: httpx.Client, project: Any, method: str, path: str, body: Any) -> None:
    create(http, project, rollout_flag("exists"))
    url = path.format(key="exists")
    for headers in (
        {},
        {"Authorization": "Bearer phs_nope"},
        {"Authorization": f"Bearer {project.token}"},
    ):
        r = http.request(method, url, json=body, headers=headers)
        assert r.status_code == 401, (url, r.text)
        assert fields(r) == ["Authorization"]
    flag = http.get("/api/feature_flags/exists", headers=admin(project)).json()
    assert flag["version"] == 1
    assert http.get("/api/cohorts", headers=admin(project)).json()["results"] == []


def _target(http: httpx.Client, project: Any, path: str) -> str:
    """``path`` made real: a flag ``exists`` and a static cohort to address."""
    create(http, project, rollout_flag("exists"))
    cohort = http.post(
        "/api/cohorts",
        json={"name": "c", "is_static": True, "distinct_ids": ["a"]},
        headers=admin(project),
    )
    cohort_path = f"/api/cohorts/{cohort.json()['id']}"
    return path.format(key="exists").replace("/api/cohorts/1", cohort_path)


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_malformed_missing_and_oversized_bodies(
    http: httpx.Client, project: Any, method: str, path: str
) -> None:
    url = _target(http, project, path)
    for raw in (b"{broken", b"", b"[1, 2]", b'"text"'):
        r = http.request(
            method, url, content=raw, headers=admin(project, **{"Content-Type": "application/json"})
        )
        assert r.status_code == 400, (url, raw, r.text)
        assert fields(r)
    huge = b'{"name": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    r = http.request(
        method, url, content=huge, headers=admin(project, **{"Content-Type": "application/json"})
    )
    assert r.status_code == 413, (url, r.text)
    assert fields(r) == ["body"]
    assert http.get("/api/feature_flags/exists", headers=admin(project)).json()["version"] == 1
    assert [
        c["name"] for c in http.get("/api/cohorts", headers=admin(project)).json()["results"]
    ] == ["c"]


def test_cohort_and_group_type_validation(http: httpx.Client, project: Any) -> None:
    cases = [
        ("/api/cohorts", {"is_static": True}, "name"),
        ("/api/cohorts", {"name": "s", "is_static": True, "distinct_ids": [1]}, "distinct_ids[0]"),
        (
            "/api/cohorts",
            {"name": "s", "is_static": True, "distinct_ids": ["a", ""]},
            "distinct_ids[1]",
        ),
        ("/api/cohorts", {"name": "s", "is_static": True, "filters": {}}, "filters"),
        ("/api/cohorts", {"name": "d"}, "filters"),
        (
            "/api/cohorts",
            {"name": "d", "filters": {"properties": {"type": "XOR", "values": []}}},
            "filters.properties.type",
        ),
        (
            "/api/cohorts",
            {"name": "d", "colour": 1, "filters": {"properties": {"type": "AND", "values": []}}},
            "colour",
        ),
    ]
    for path, body, field in cases:
        r = http.post(path, json=body, headers=admin(project))
        assert r.status_code == 400, (body, r.text)
        assert field in fields(r), (body, r.json())
    for index, body, field in (
        (7, {"group_type": "x"}, "group_type_index"),
        (0, {"group_type": ""}, "group_type"),
        (0, {"name": "x"}, "name"),
        (0, [], "body"),
    ):
        r = http.put(f"/api/group_types/{index}", json=body, headers=admin(project))
        assert r.status_code == 400
        assert field in fields(r)
    assert http.get("/api/cohorts", headers=admin(project)).json()["results"] == []
    assert http.get("/api/group_types", headers=admin(project)).json()["results"] == []
    assert http.get("/api/cohorts/999999", headers=admin(project)).status_code == 404


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_deeply_nested_and_nul_bodies(
    http: httpx.Client, project: Any, method: str, path: str
) -> None:
    url = _target(http, project, path)
    headers = admin(project, **{"Content-Type": "application/json"})
    deep = b'{"name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    r = http.request(method, url, content=deep, headers=headers)
    assert r.status_code == 400, (url, r.text)
    assert fields(r) == ["body"]
    r = http.request(method, url, content=b'{"name": "a\\u0000b"}', headers=headers)
    assert r.status_code == 400, (url, r.text)
    assert fields(r) == ["name"]
    assert http.get("/api/feature_flags/exists", headers=admin(project)).json()["version"] == 1
    assert [
        c["name"] for c in http.get("/api/cohorts", headers=admin(project)).json()["results"]
    ] == ["c"]


def test_nul_deep_inside_a_definition_names_its_path(http: httpx.Client, project: Any) -> None:
    flag = rollout_flag("nul")
    flag["filters"]["groups"][0]["properties"] = [
        {"key": "email", "value": "a\x00b", "type": "person"}
    ]
    r = http.post("/api/feature_flags", json=flag, headers=admin(project))
    assert r.status_code == 400, r.text
    assert fields(r) == ["filters.groups[0].properties[0].value"]
    assert http.get("/api/feature_flags", headers=admin(project)).json()["count"] == 0


def test_deeply_nested_evaluation_request_is_a_400(http: httpx.Client, project: Any) -> None:
    deep = (
        b'{"api_key": "' + project.token.encode() + b'", "distinct_id": "d", "person_properties":'
        b' {"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}"
    )
    r = http.post("/flags/?v=2", content=deep)
    assert r.status_code == 400, r.text
    assert fields(r) == ["body"]
