"""Flag bodies and small HTTP helpers shared by the flags tests."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def admin(project: Any, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {project.secret_key}", **headers}


def rollout_flag(key: str, pct: float | None = 100, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": f"flag {key}",
        "filters": {"groups": [{"properties": [], "rollout_percentage": pct}]},
        **extra,
    }


def property_flag(key: str, prop: str, value: Any, operator: str = "exact") -> dict[str, Any]:
    return {
        "key": key,
        "filters": {
            "groups": [
                {
                    "properties": [
                        {"key": prop, "value": value, "operator": operator, "type": "person"}
                    ],
                    "rollout_percentage": 100,
                }
            ]
        },
    }


def multivariate_flag(
    key: str, variants: dict[str, int], payloads: dict[str, Any]
) -> dict[str, Any]:
    return {
        "key": key,
        "filters": {
            "groups": [{"properties": [], "rollout_percentage": 100}],
            "multivariate": {
                "variants": [{"key": k, "rollout_percentage": v} for k, v in variants.items()]
            },
            "payloads": payloads,
        },
    }


def create(
    http: httpx.Client, project: Any, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    r = http.post("/api/feature_flags", json=body, headers=admin(project, **headers))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def evaluate(http: httpx.Client, project: Any, distinct_id: str, **body: Any) -> dict[str, Any]:
    r = http.post(
        "/flags/?v=2", json={"api_key": project.token, "distinct_id": distinct_id, **body}
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.text
    return [e["field"] for e in response.json().get("errors") or []]
