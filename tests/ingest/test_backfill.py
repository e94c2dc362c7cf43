"""Back-filled events that need new daily partitions, arriving as many small batches at once:
the writer (two batches in flight) must create the partitions without deadlocking."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support import Server, all_events, wait_for


def test_many_batches_each_needing_a_new_partition(server: Server, project: Any) -> None:
    # Days far enough back that no other test has created their partitions.
    base = datetime.now(UTC) - timedelta(days=200)
    bodies = []
    for n in range(48):
        # Every other batch is today's (its partition exists, so it goes straight into its
        # transaction); the others each need a partition for a day never seen before.
        day = n // 2
        ts = datetime.now(UTC) if n % 2 else base + timedelta(days=day, hours=12)
        events = [
            {
                "event": "backfilled",
                "distinct_id": f"user-{n}-{i}",
                "timestamp": (ts + timedelta(seconds=i)).isoformat(),
                "uuid": str(uuid.uuid4()),
                "properties": {"$set": {"batch": n}} if i == 0 else {},
            }
            for i in range(25)
        ]
        bodies.append({"api_key": project.token, "batch": events})

    def send(body: dict[str, Any]) -> int:
        return httpx.post(f"{server.url}/batch/", json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(send, bodies)) == {200}
    expected = {e["uuid"] for b in bodies for e in b["batch"]}
    stored = wait_for(
        lambda: (
            got
            if len(got := {e["uuid"] for e in all_events(server.url, project.secret_key)})
            >= len(expected)
            else None
        ),
        timeout_s=90,
    )
    assert stored == expected
