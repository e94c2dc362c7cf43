"""A trace started by the client continues through NATS into the writer."""

from __future__ import annotations

import re

import httpx

from tests.support import Stack, count_rows, wait_for


def test_trace_context_crosses_nats_to_the_writer(isolated_stack: Stack) -> None:
    project = isolated_stack.project()
    api = isolated_stack.serve(role="all", DEVFLOW_OTEL_EXPORTER="console")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    res = httpx.post(
        f"{api.url}/capture",
        json={"api_key": project.token, "event": "traced", "distinct_id": "t"},
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert res.status_code == 200
    wait_for(lambda: count_rows(isolated_stack.database_url, project.id) == 1)

    def spans() -> list[str]:
        # The console exporter prints one JSON object per span; pick the names in our trace.
        text = api.process.log()
        blocks = text.split('"name": ')[1:]
        return [b.split('"')[1] for b in blocks if f"0x{trace_id}" in b]

    names = wait_for(lambda: (n := spans()) and "consume events-writer" in n and n, 20)
    assert "capture" in names
    assert re.search(r'"trace_id": "0x' + trace_id, api.process.log())


def test_a_worker_with_a_port_serves_health_and_metrics_only(isolated_stack: Stack) -> None:
    worker = isolated_stack.serve(role="worker", name="worker")
    assert httpx.get(f"{worker.url}/_ready").json()["ready"] is True
    assert "devflow_messages_consumed_total" in httpx.get(f"{worker.url}/metrics").text
    assert httpx.post(f"{worker.url}/capture", json={}).status_code == 404
