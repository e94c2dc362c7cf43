"""Nothing acknowledged is lost: writer crashes, redeliveries, duplicates, broker outages."""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import nats
import psycopg

from schemas.events import CapturedEvent, EventBatch
from services.cli.embedded import EmbeddedNats
from tests.support import Stack, count_rows, wait_for


def _batch(token: str, n: int, tag: str) -> tuple[dict[str, Any], list[str]]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    body = {
        "api_key": token,
        "batch": [
            {"event": "tick", "distinct_id": f"user-{i % 7}", "uuid": u, "properties": {"t": tag}}
            for i, u in enumerate(ids)
        ],
    }
    return body, ids


def _stored_uuids(database_url: str, project_id: int) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT uuid::text FROM events WHERE project_id = %s", (project_id,)
        ).fetchall()
    return [r[0] for r in rows]


def test_writer_killed_mid_stream_loses_nothing_and_stores_once(isolated_stack: Stack) -> None:
    stack = isolated_stack
    project = stack.project()
    api = stack.serve(role="api")
    worker = stack.worker(DEVFLOW_WRITER_FETCH_BATCH="8", DEVFLOW_WRITER_ACK_WAIT_S="3")
    acked: list[str] = []
    bodies: list[dict[str, Any]] = []
    with httpx.Client(base_url=api.url, timeout=30) as http:

        def send(count: int, tag: str) -> None:
            for _ in range(count):
                body, ids = _batch(project.token, 50, tag)
                res = http.post("/batch/", json=body)
                assert res.status_code == 200, res.text
                acked.extend(ids)
                bodies.append(body)

        send(40, "before")
        # Kill the writer while it is working through the backlog: some batches are committed,
        # some fetched but not acked, some not fetched yet.
        wait_for(lambda: count_rows(stack.database_url, project.id) > 0, 30, 0.02)
        worker.kill(signal.SIGKILL)
        send(40, "while-down")
        # The same batches again, as a client retrying after a lost response would.
        for body in bodies[:10]:
            assert http.post("/batch/", json=body).status_code == 200
    stack.worker(name="worker-2", DEVFLOW_WRITER_ACK_WAIT_S="3")
    wait_for(lambda: count_rows(stack.database_url, project.id) >= len(acked), 60)
    stored = _stored_uuids(stack.database_url, project.id)
    assert len(stored) == len(acked) == 4000
    assert sorted(stored) == sorted(acked)


def test_redelivered_and_duplicate_messages_are_stored_once(isolated_stack: Stack) -> None:
    stack = isolated_stack
    project = stack.project()
    api = stack.serve(role="all")  # streams exist once it is ready
    now = datetime.now(UTC)
    events = [CapturedEvent(str(uuid.uuid4()), "dup", f"d-{i}", now, {"i": i}) for i in range(20)]
    payload = msgspec.json.encode(EventBatch(project.id, now, events))
    # The same event twice within one message, too.
    twice = msgspec.json.encode(EventBatch(project.id, now, [events[0], events[0]]))

    async def publish() -> None:
        nc = await nats.connect(stack.nats_url)
        js = nc.jetstream()
        # Distinct message ids defeat JetStream's de-duplication, as a redelivery would.
        for n in range(3):
            await js.publish(
                f"events.{project.id}.capture", payload, headers={"Nats-Msg-Id": f"m{n}"}
            )
        await js.publish(f"events.{project.id}.capture", twice, headers={"Nats-Msg-Id": "twice"})
        await nc.close()

    asyncio.run(publish())
    wait_for(lambda: count_rows(stack.database_url, project.id) >= 20, 30)
    # Messages are processed in order: once a later marker is stored, the copies were handled.
    marker, marker_ids = _batch(project.token, 1, "marker")
    assert httpx.post(f"{api.url}/batch", json=marker).status_code == 200
    wait_for(lambda: marker_ids[0] in _stored_uuids(stack.database_url, project.id), 30)
    stored = _stored_uuids(stack.database_url, project.id)
    assert sorted(stored) == sorted([e.uuid for e in events] + marker_ids)


def test_poison_message_goes_to_the_dead_letter_stream_and_others_flow(
    isolated_stack: Stack,
) -> None:
    stack = isolated_stack
    project = stack.project()
    api = stack.serve(role="all")

    async def poison_then_read_dlq() -> bytes:
        nc = await nats.connect(stack.nats_url)
        js = nc.jetstream()
        await js.publish(f"events.{project.id}.capture", b"{not json", headers={"Nats-Msg-Id": "p"})
        sub = await js.pull_subscribe("dlq.>", durable="test-dlq", stream="DLQ")
        msgs = await sub.fetch(1, timeout=20)
        await nc.close()
        return bytes(msgs[0].data)

    assert asyncio.run(poison_then_read_dlq()) == b"{not json"
    body, _ = _batch(project.token, 5, "after-poison")
    assert httpx.post(f"{api.url}/batch", json=body).status_code == 200
    wait_for(lambda: count_rows(stack.database_url, project.id) == 5, 30)


def test_broker_down_gives_503_never_200_then_lost(isolated_stack: Stack) -> None:
    stack = isolated_stack
    assert stack.nats is not None
    project = stack.project()
    api = stack.serve(role="all")
    acked: list[str] = []
    statuses: list[int] = []
    stop = threading.Event()

    def capture_loop() -> None:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            while not stop.is_set():
                body, ids = _batch(project.token, 5, "outage")
                res = http.post("/batch", json=body)
                statuses.append(res.status_code)
                if res.status_code == 200:
                    assert res.json() == {"status": 1}
                    acked.extend(ids)
                else:
                    assert res.status_code == 503, res.text
                    assert res.headers["content-type"].startswith("application/problem+json")
                    assert int(res.headers["retry-after"]) > 0

    thread = threading.Thread(target=capture_loop)
    thread.start()
    try:
        wait_for(lambda: statuses.count(200) >= 20, 30, 0.02)
        nats_root, port = stack.nats.root.parent, stack.nats.port
        stack.nats.stop()
        wait_for(lambda: 503 in statuses, 30, 0.02)
        seen = len(statuses)
        wait_for(lambda: len(statuses) > seen + 5, 30, 0.02)
        restarted = EmbeddedNats(nats_root, port=port)
        restarted.start()
        stack.nats = restarted
        down_at = len(statuses)
        wait_for(lambda: statuses[down_at:].count(200) >= 20, 60, 0.05)
    finally:
        stop.set()
        thread.join()
    assert statuses.count(503) >= 1
    wait_for(lambda: count_rows(stack.database_url, project.id) >= len(acked), 60)
    assert sorted(_stored_uuids(stack.database_url, project.id)) == sorted(acked)


def test_database_outage_holds_events_until_it_returns(servers: Any, tmp_path: Any) -> None:
    """Events acknowledged while PostgreSQL is down are written once it is back, not dropped
    or dead-lettered, however long the outage lasts."""
    from services.cli.embedded import EmbeddedPostgres
    from services.core.migrate import migrate

    pg = EmbeddedPostgres(tmp_path / "pg")
    (tmp_path / "pg").mkdir()
    database_url = pg.start()
    migrate(database_url)
    nats_server = servers.new_nats()
    stack = Stack(database_url, nats_server.url, tmp_path, nats=nats_server)
    project = stack.project()
    try:
        # Two deliveries only: were the outage counted against the messages, they'd be
        # dead-lettered within seconds.
        api = stack.serve(role="all", DEVFLOW_WRITER_MAX_DELIVER="2")
        acked: list[str] = []
        with httpx.Client(base_url=api.url, timeout=30) as http:
            body, ids = _batch(project.token, 20, "before")
            assert http.post("/batch", json=body).status_code == 200
            acked += ids
            wait_for(lambda: count_rows(database_url, project.id) == 20, 30)
            pg.stop()
            for _ in range(5):
                body, ids = _batch(project.token, 20, "during")
                # Capture needs only the broker (the token lookup is cached).
                assert http.post("/batch", json=body).status_code == 200
                acked += ids
            # The writer keeps retrying the held batch meanwhile.
            wait_for(lambda: "waits for the database" in api.process.log(), 45)
            pg = EmbeddedPostgres(tmp_path / "pg", port=pg.port)
            pg.start()
            wait_for(lambda: count_rows(database_url, project.id) == len(acked), 60)
        assert sorted(_stored_uuids(database_url, project.id)) == sorted(acked)
    finally:
        stack.stop()
        pg.stop()
