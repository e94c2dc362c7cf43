"""Native storage mode: daily partitions on demand and an exact hourly rollup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from tests.support import Server, Stack, count_rows, wait_for


def _rollup(database_url: str, project_id: int) -> dict[tuple[str, datetime], int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT event, hour, count FROM events_hourly WHERE project_id = %s", (project_id,)
        ).fetchall()
    return {(event, hour): count for event, hour, count in rows}


def test_late_events_get_a_partition_and_are_counted_once(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    late = (datetime.now(UTC) - timedelta(days=400)).replace(minute=10, second=0, microsecond=0)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    batch = [
        {"event": "old", "distinct_id": "x", "uuid": u, "timestamp": late.isoformat()} for u in ids
    ]
    body = {"api_key": project.token, "batch": batch}
    assert http.post("/batch", json=body).status_code == 200
    # The same events again (a client retry) must not count twice in the rollup.
    assert http.post("/batch", json=body).status_code == 200
    marker = {"api_key": project.token, "event": "marker", "distinct_id": "x"}
    assert http.post("/capture", json=marker).status_code == 200
    wait_for(lambda: count_rows(stack.database_url, project.id) == 4)

    rollup = _rollup(stack.database_url, project.id)
    assert rollup[("old", late.replace(minute=0))] == 3
    assert sum(c for (event, _), c in rollup.items() if event == "marker") == 1
    with psycopg.connect(stack.database_url) as conn:
        partitions = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
            )
        }
    assert f"events_p{late:%Y%m%d}" in partitions
    # Partitions for the coming days exist before any event needs them.
    tomorrow = datetime.now(UTC).date() + timedelta(days=3)
    assert f"events_p{tomorrow:%Y%m%d}" in partitions


def test_ready_reports_the_storage_mode(server: Server) -> None:
    body = httpx.get(f"{server.url}/_ready").json()
    assert body["storage_mode"] == "partitioned"
    assert body["ready"] is True


def test_retention_drops_expired_partitions(isolated_stack: Stack) -> None:
    stack = isolated_stack
    project = stack.project()
    api = stack.serve(role="all", name="no-retention")
    old = (datetime.now(UTC) - timedelta(days=100)).replace(microsecond=0)
    body = {
        "api_key": project.token,
        "batch": [
            {"event": "old", "distinct_id": "r", "timestamp": old.isoformat()},
            {"event": "new", "distinct_id": "r"},
        ],
    }
    assert httpx.post(f"{api.url}/batch", json=body).status_code == 200
    wait_for(lambda: count_rows(stack.database_url, project.id) == 2)
    api.process.kill()
    # A writer with 30 days of retention drops the 100-day-old partition when it starts.
    stack.serve(role="all", name="retention", DEVFLOW_EVENTS_RETENTION_DAYS="30")
    wait_for(lambda: count_rows(stack.database_url, project.id) == 1)
    with psycopg.connect(stack.database_url) as conn:
        names = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
    assert f"events_p{old:%Y%m%d}" not in names
    assert f"events_p{datetime.now(UTC):%Y%m%d}" in names
