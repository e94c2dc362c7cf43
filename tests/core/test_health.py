"""Liveness, readiness and Prometheus metrics of a running platform process."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.support import Server, all_events, wait_for

if TYPE_CHECKING:
    import httpx


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


def test_health(http: httpx.Client) -> None:
    res = http.get("/_health")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/json")
    assert res.json() == {"status": "ok"}


def test_ready_reports_both_dependencies_and_the_storage_mode(http: httpx.Client) -> None:
    res = http.get("/_ready")
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/json")
    body = res.json()
    assert body == {
        "ready": True,
        "postgres": {"ok": True},
        "nats": {"ok": True},
        "storage_mode": "partitioned",
    }


def test_metrics_are_prometheus_text(http: httpx.Client) -> None:
    res = http.get("/metrics")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain")
    assert "version=" in res.headers["content-type"]
    text = res.text
    assert "# TYPE devflow_events_accepted_total counter" in text
    assert "# HELP devflow_events_accepted_total" in text
    _sample(text, "devflow_events_accepted_total")


def test_metrics_content_type_has_no_duplicate_parameters(http: httpx.Client) -> None:
    content_type = http.get("/metrics").headers["content-type"]
    names = [p.split("=", 1)[0].strip().lower() for p in content_type.split(";")[1:]]
    assert len(names) == len(set(names)), content_type


def test_accepted_events_are_counted(http: httpx.Client, server: Server, project: Any) -> None:
    before = _sample(http.get("/metrics").text, "devflow_events_accepted_total")
    batch = [{"event": "counted", "distinct_id": "d"} for _ in range(3)]
    assert http.post("/batch", json={"api_key": project.token, "batch": batch}).status_code == 200
    wait_for(lambda: len(all_events(server.url, project.secret_key)) == 3)
    text = http.get("/metrics").text
    # Other tests may capture at the same time: at least ours were counted.
    assert _sample(text, "devflow_events_accepted_total") >= before + 3
    assert re.search(
        r'^devflow_http_requests_total\{method="POST",route="/batch",status="200"\} [1-9]',
        text,
        re.MULTILINE,
    )
    assert _sample(text, "devflow_events_written_total") >= 3


def test_rejected_events_are_counted_by_field(http: httpx.Client, project: Any) -> None:
    batch = [{"event": "x", "distinct_id": "d", "uuid": "not-a-uuid"}]
    assert http.post("/batch", json={"api_key": project.token, "batch": batch}).status_code == 400
    text = http.get("/metrics").text
    assert _sample(text, 'devflow_events_rejected_total{reason="uuid"}') >= 1


def test_unknown_routes_are_problem_json(http: httpx.Client) -> None:
    res = http.get("/no/such/route")
    assert res.status_code == 404
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["status"] == 404
    res = http.get("/capture")
    assert res.status_code == 405
    assert res.headers["content-type"].startswith("application/problem+json")


def test_cors_preflight_for_browser_sdks(http: httpx.Client) -> None:
    res = http.options(
        "/e/",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert res.status_code in (200, 204)
    assert res.headers["access-control-allow-origin"] in ("*", "https://shop.example")
