"""One generated event set captured through ``/batch`` to the suite's shared platform process,
and helpers to ask queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

from tests.insights.factories import Dataset, generate
from tests.support import count_rows, wait_for

MERGES = "SELECT count(*) FROM analytics.person_merges_v1 WHERE project_id = %s"

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support import Server, Stack


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def auth(project: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {project.secret_key}"}


def ask(http: httpx.Client, project: Any, query: dict[str, Any], status: int = 200) -> Any:
    """``POST /api/query``; the answer's JSON, which must have ``status``."""
    res = http.post("/api/query", json={"query": query}, headers=auth(project))
    assert res.status_code == status, (query, res.text)
    return res.json()


def put_settings(http: httpx.Client, project: Any, body: dict[str, Any]) -> Any:
    res = http.put("/api/insights/settings", json=body, headers=auth(project))
    assert res.status_code == 200, res.text
    return res.json()


def capture(http: httpx.Client, stack: Stack, project: Any, data: Dataset) -> None:
    """Send the first half of the events, wait until stored, then the second (its
    ``$identify`` events merge stored persons), then the late ones."""
    sent = 0
    half = len(data.events) // 2
    for part in (data.events[:half], data.events[half:], data.late):
        for i in range(0, len(part), 500):
            chunk = [e.capture() for e in part[i : i + 500]]
            res = http.post("/batch", json={"api_key": project.token, "batch": chunk})
            assert res.status_code == 200, res.text
        sent += len(part)
        wait_for(lambda n=sent: count_rows(stack.database_url, project.id) >= n, 30)


@pytest.fixture(scope="module")
def dataset(server: Server, stack: Stack) -> tuple[Any, Dataset, datetime]:
    """(project, events, now) of the module's generated event set."""
    project = stack.project("insights-oracle")
    now = datetime.now(UTC)
    data = generate(seed=16, now=now)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        capture(client, stack, project, data)
    # Merges of persons the writer had stored (not only within one batch) are exercised.
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(MERGES, (project.id,)).fetchone()
    assert row is not None
    assert row[0] >= 5
    return project, data, now
