"""Acknowledged recordings survive a consumer that is down; redeliveries store nothing twice;
the retention job deletes what is past each project's retention; compaction merges a quiet
session's chunks without changing what it plays or its metadata."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import nats
import psycopg

from schemas import replay
from tests.replay.factories import T0, admin, count, recording, send, wait_replay
from tests.support import Stack, wait_for


def _chunks(stack: Stack, project_id: int) -> int:
    return count(
        stack.database_url, "SELECT count(*) FROM replay_chunks WHERE project_id = %s", project_id
    )


async def _pending(nats_url: str) -> tuple[int, int]:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(replay.STREAM, "replay-recorder")
        return int(info.num_pending), int(info.num_ack_pending)
    finally:
        await nc.close()


def test_acknowledged_while_the_consumer_is_down(isolated_stack: Stack) -> None:
    stack = isolated_stack
    project = stack.project()
    api = stack.serve(role="api", services=("ingest", "replay"))
    sessions = [str(uuid.uuid4()) for _ in range(5)]
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for sid in sessions:
            assert send(http, project, sid, recording())
        # Through ingest's /batch as well (posthog-js sends $snapshot there too).
        batch_sid = str(uuid.uuid4())
        body = {
            "api_key": project.token,
            "batch": [
                {
                    "event": "$snapshot",
                    "distinct_id": "v",
                    "properties": {"$session_id": batch_sid, "$snapshot_data": recording()},
                }
            ],
        }
        assert http.post("/batch/", json=body).status_code == 200
        # Only the API runs: nothing is stored yet, everything waits in the stream.
        assert _chunks(stack, project.id) == 0
        assert http.get("/api/replays", headers=admin(project)).json()["results"] == []
    worker = stack.worker(services=("ingest", "replay"))
    wait_for(lambda: _chunks(stack, project.id) == 6, 60)
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for sid in [*sessions, batch_sid]:
            assert wait_replay(http, project, sid)["click_count"] == 2
    worker.kill()


def test_a_redelivered_message_stores_nothing_twice(isolated_stack: Stack) -> None:
    stack = isolated_stack
    project = stack.project()
    server = stack.serve(services=("replay",))
    sid = str(uuid.uuid4())
    snap = replay.Snapshot(
        uuid=str(uuid.uuid4()),
        distinct_id="v",
        timestamp=datetime.now(UTC),
        session_id=sid,
        data=msgspec.Raw(msgspec.json.encode(recording())),
        window_id="w",
    )
    payload = replay.encode(replay.SnapshotBatch(project.id, datetime.now(UTC), [snap]))

    async def publish_three_times() -> None:
        nc = await nats.connect(stack.nats_url)
        js = nc.jetstream()
        # Other message ids: JetStream's de-duplication does not catch these, the consumer must.
        for i in range(3):
            await js.publish(replay.subject(project.id), payload, headers={"Nats-Msg-Id": f"m{i}"})
        await nc.close()

    asyncio.run(publish_three_times())
    wait_for(lambda: asyncio.run(_pending(stack.nats_url)) == (0, 0), 30)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        meta = wait_replay(http, project, sid)
    assert meta["chunk_count"] == 1
    assert meta["click_count"] == 2
    assert meta["event_count"] == len(recording())
    assert _chunks(stack, project.id) == 1


def test_retention_deletes_expired_recordings(isolated_stack: Stack) -> None:
    stack = isolated_stack
    keeps_long, default = stack.project("keeps long"), stack.project("default")
    server = stack.serve(services=("replay",))
    day = 86_400_000
    old = T0 - 40 * day
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.put(
            "/api/replays/settings", json={"retention_days": 60}, headers=admin(keeps_long)
        )
        assert r.status_code == 200
        ids: dict[str, tuple[Any, int]] = {}
        for project in (keeps_long, default):
            for start in (old, T0):
                sid = str(uuid.uuid4())
                ids[sid] = (project, start)
                assert send(http, project, sid, recording(start))
        for sid, (project, _) in ids.items():
            wait_replay(http, project, sid)
    server.process.kill()
    # A process whose retention job runs every second.
    server = stack.serve(services=("replay",), DEVFLOW_REPLAY_RETENTION_INTERVAL_S="1")
    with httpx.Client(base_url=server.url, timeout=30) as http:

        def gone() -> bool:
            r = http.get("/api/replays", headers=admin(default)).json()["results"]
            return len(r) == 1

        wait_for(gone, 30)
        for sid, (project, start) in ids.items():
            status = http.get(f"/api/replays/{sid}", headers=admin(project)).status_code
            expired = project is default and start == old
            assert status == (404 if expired else 200), (project.name, start == old)
    with psycopg.connect(stack.database_url) as conn:
        (left,) = conn.execute("SELECT count(*) FROM replay_chunks").fetchone() or (0,)
    assert left == 3
    assert timedelta(milliseconds=T0 - old).days == 40


def test_compaction_merges_chunks_and_changes_nothing_else(isolated_stack: Stack) -> None:
    stack = isolated_stack
    project = stack.project()
    server = stack.serve(
        services=("replay",),
        DEVFLOW_REPLAY_COMPACT_AFTER_S="3",
        DEVFLOW_REPLAY_COMPACT_INTERVAL_S="0.5",
    )
    sid = str(uuid.uuid4())
    events = recording()
    parts = [events[0:3], events[3:6], events[6:9], events[9:]]
    # A second window, later (windows recording at the same time share activity differently).
    other = [e for e in recording(T0 + 20_000) if e["type"] == 3][:4]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for n, part in enumerate(parts, 1):
            assert send(http, project, sid, part, extra={"$current_url": f"https://x.example/{n}"})
            wait_replay(http, project, sid, chunk_count=n)
        assert send(http, project, sid, other[:2], window_id="window-2")
        wait_replay(http, project, sid, chunk_count=5)
        last = str(uuid.uuid4())
        assert send(http, project, sid, other[2:], window_id="window-2", uid=last)
        before = wait_replay(http, project, sid, chunk_count=6)
        played = http.get(f"/api/replays/{sid}/snapshots", headers=admin(project)).json()
        after = wait_replay(http, project, sid, chunk_count=2)  # one per window
        assert http.get(f"/api/replays/{sid}/snapshots", headers=admin(project)).json() == played
        same = {k: v for k, v in before.items() if k not in ("chunk_count", "size_bytes")}
        assert {k: after[k] for k in same} == same
        mine = [u for u in after["urls"] if "x.example" in u]
        assert mine == [f"https://x.example/{n}" for n in range(1, 5)]
        assert after["size_bytes"] < before["size_bytes"]
        # A redelivery of a compacted snapshot still stores nothing.
        assert send(http, project, sid, other[2:], window_id="window-2", uid=last)
        wait_for(lambda: asyncio.run(_pending(stack.nats_url)) == (0, 0), 30)
    assert _chunks(stack, project.id) == 2
