"""Events sent by ``devflow_sdk.Client`` arrive in the real server and read back as PostHog's."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from devflow_sdk import AsyncClient, Client, ConfigError

from tests.sdk.client.conftest import ClientFactory
from tests.support import Server, all_events, count_rows, free_port, wait_for


def _person(http: Any, project: Any, distinct_id: str) -> dict[str, Any]:
    res = http.get(
        f"/api/persons/{distinct_id}", headers={"Authorization": f"Bearer {project.secret_key}"}
    )
    assert res.status_code == 200, res.text
    return res.json()


def _events(server: Server, project: Any, n: int) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (e := all_events(server.url, project.secret_key)) and len(e) >= n and e, 30
    )


def test_every_event_kind_arrives_as_posthog_sends_it(
    server: Server, project: Any, http: Any, make_client: ClientFactory
) -> None:
    client = make_client(server.url, project.token)
    at = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    ids = [
        client.capture("$pageview", "anon-1", {"$current_url": "https://a.test/"}),
        client.capture(
            "signed_up", "anon-1", {"plan": "free"}, groups={"company": "acme"}, timestamp=at
        ),
        client.identify("user-1", {"email": "u1@example.com"}, set_once={"first": "monday"}),
        client.capture(
            "$identify", "user-1", {"$anon_distinct_id": "anon-1"}
        ),  # posthog-js's merge
        client.set("user-1", {"name": "Ada"}),
        client.set_once("user-1", {"first": "ignored", "source": "ads"}),
        client.alias("user-1", "user-1-alias"),
        client.group_identify("company", "acme", {"employees": 11}),
    ]
    assert all(ids)
    assert len(set(ids)) == len(ids)
    assert client.flush(30)
    events = _events(server, project, len(ids))
    assert len(events) == len(ids)
    by_uuid = {e["uuid"]: e for e in events}
    assert set(by_uuid) == set(ids)
    for e in events:
        assert e["properties"]["$lib"] == "devflow-sdk-python"
        assert uuid.UUID(e["uuid"]).version == 7
    signed_up = by_uuid[ids[1]]
    # The server corrects clock skew with the request's sent_at: off by the time in the queue.
    stored = datetime.fromisoformat(signed_up["timestamp"])
    assert abs((stored - at).total_seconds()) < 5
    assert signed_up["properties"]["$groups"] == {"company": "acme"}
    assert by_uuid[ids[2]]["event"] == "$identify"
    assert by_uuid[ids[2]]["properties"]["$set"] == {"email": "u1@example.com"}
    alias = by_uuid[ids[6]]
    assert (alias["event"], alias["distinct_id"]) == ("$create_alias", "user-1")
    assert alias["properties"]["alias"] == "user-1-alias"
    group = by_uuid[ids[7]]
    assert (group["event"], group["distinct_id"]) == ("$groupidentify", "$company_acme")
    assert group["properties"]["$group_set"] == {"employees": 11}

    person = _person(http, project, "user-1")
    assert set(person["distinct_ids"]) == {"anon-1", "user-1", "user-1-alias"}
    assert person["properties"]["email"] == "u1@example.com"
    assert person["properties"]["name"] == "Ada"
    assert person["properties"]["first"] == "monday"
    assert person["properties"]["source"] == "ads"
    assert client.stats.sent == len(ids)


def test_batches_by_size_and_time(
    server: Server, project: Any, make_client: ClientFactory, front_of: Any
) -> None:
    front = front_of(server.url)
    client = make_client(front.url, project.token, flush_at=50, flush_interval=0.2)
    for i in range(120):
        client.capture("batched", "u", {"i": i})
    events = _events(server, project, 120)
    assert sorted(e["properties"]["i"] for e in events) == list(range(120))
    sizes = [len(r.json()["batch"]) for r in front.requests()]
    assert sum(sizes) == 120
    assert len(sizes) < 120  # batched, not one request per event
    assert all(r.headers["content-encoding"] == "gzip" for r in front.requests())


def test_bad_arguments_are_counted_and_logged_never_raised(
    server: Server, project: Any, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server.url, project.token)

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with caplog.at_level(logging.WARNING, logger="devflow_sdk"):
        assert client.capture("", "u") is None
        assert client.capture("e", None) is None  # type: ignore[arg-type]
        assert client.capture("e", "") is None
        assert client.capture(None, "u") is None  # type: ignore[arg-type]
        assert client.capture("e", "u", ["not", "a", "dict"]) is None  # type: ignore[arg-type]
        assert client.capture("e", "u", {"x": Unprintable()}) is None
        assert client.capture("e", "u", timestamp=12) is None  # type: ignore[arg-type]
        assert client.capture("e", "u", {"big": "x" * 1_100_000}) is None
        assert client.identify(None) is None  # type: ignore[arg-type]
        assert client.alias("", "u") is None
        assert client.group_identify("", "k") is None
    assert client.stats.dropped_invalid == 11
    assert sum("event dropped" in r.message for r in caplog.records) == 11
    # Odd but encodable values go as text; ints and UUIDs are distinct ids.
    good = [
        client.capture("odd", 42, {"when": datetime(2026, 1, 1), "id": uuid.UUID(int=1)}),  # type: ignore[arg-type]
        client.capture("odd", "u", {"path": __import__("pathlib").Path("/tmp")}),
    ]
    assert all(good)
    assert client.flush(30)
    events = _events(server, project, 2)
    assert {e["distinct_id"] for e in events} == {"42", "u"}
    assert client.stats.sent == 2


def test_capture_never_raises_or_blocks_while_the_server_is_down(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    client = make_client(dead, "phc_nobody", max_queue_size=500, shutdown_timeout=0.5)
    for i in range(1000):
        client.capture("while_down", "u", {"i": i})
    assert not client.flush(0.5)
    wait_for(lambda: client.stats.retries >= 1, 30)
    stats = client.stats
    # Memory holds at most max_queue_size events (the batch being retried included).
    assert stats.queued + stats.dropped_queue_full == 1000
    assert stats.queued <= 500
    assert stats.dropped_queue_full >= 500
    assert "ConnectError" in (stats.last_error or "")
    client.shutdown(0.2)
    stats = client.stats
    assert stats.dropped_shutdown + stats.dropped_queue_full == 1000
    assert stats.sent == 0
    assert client.capture("after", "u") is None
    assert client.stats.dropped_shutdown + client.stats.dropped_queue_full == 1001
    assert any("could not be sent" in r.message for r in caplog.records)


def test_a_bad_token_is_refused_once_not_retried(
    server: Server, make_client: ClientFactory, front_of: Any
) -> None:
    front = front_of(server.url)
    client = make_client(front.url, "phc_not_a_project")
    client.capture("e", "u")
    client.capture("e", "u")
    assert client.flush(30)
    assert client.stats.rejected == 2
    assert [r.status for r in front.requests()] == [401]
    assert "401" in (client.stats.last_error or "")


def test_super_properties_and_disabled(
    server: Server, project: Any, make_client: ClientFactory
) -> None:
    client = make_client(server.url, project.token, super_properties={"env": "test", "k": 1})
    client.capture("with_super", "u", {"k": 2})
    assert client.flush(30)
    (event,) = _events(server, project, 1)
    assert event["properties"]["env"] == "test"
    assert event["properties"]["k"] == 2  # the event's own properties win
    off = make_client(server.url, project.token, disabled=True)
    assert off.capture("nothing", "u") is None
    assert off.stats.dropped == 0
    assert off.stats.queued == 0


def test_context_manager_flushes(server: Server, project: Any) -> None:
    with Client(project.token, host=server.url, flush_interval=10) as client:
        client.capture("in_context", "u")
    assert client.stats.sent == 1
    _events(server, project, 1)


def test_async_client(server: Server, project: Any) -> None:
    async def main() -> AsyncClient:
        async with AsyncClient(project.token, host=server.url, flush_interval=10) as client:
            for i in range(10):
                assert client.capture("async", "u", {"i": i})
            assert client.identify("u", {"name": "Async"})
            assert await client.flush(30)
            assert client.stats.sent == 11
            client.capture("at_close", "u")
        return client

    client = asyncio.run(main())
    assert client.stats.sent == 12
    events = _events(server, project, 12)
    assert len(events) == 12


@pytest.mark.parametrize(
    "options",
    [
        {"flush_at": 0},
        {"flush_interval": 0},
        {"max_queue_size": 0},
        {"max_batch_bytes": 1000},
        {"spool_max_bytes": 10},
        {"timeout": 0},
    ],
)
def test_bad_options_raise_config_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Client("phc_x", host="http://127.0.0.1:1", **options)


def test_an_unusable_spool_dir_is_a_config_error(tmp_path: Any) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="spool_dir"):
        Client("phc_x", host="http://127.0.0.1:1", spool_dir=tmp_path / "file" / "spool")
    with pytest.raises(ConfigError, match="token"):
        Client("", host="http://127.0.0.1:1")


def test_many_threads_capture_while_stats_are_read(
    server: Server, project: Any, stack: Any, make_client: ClientFactory
) -> None:
    client = make_client(server.url, project.token, max_queue_size=100_000)
    errors: list[BaseException] = []
    done = threading.Event()

    def capture(worker: int) -> None:
        try:
            for i in range(5000):
                client.capture("threaded", f"w{worker}", {"i": i})
        except BaseException as exc:  # capture() must never raise
            errors.append(exc)

    def read_stats() -> None:
        try:
            while not done.is_set():
                stats = client.stats
                assert stats.queued >= 0
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read_stats)
    reader.start()
    workers = [threading.Thread(target=capture, args=(w,)) for w in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    reader.join()
    assert not errors
    assert client.flush(60)
    assert client.stats.sent == 20_000
    wait_for(lambda: count_rows(stack.database_url, project.id) >= 20_000, 60)
    assert count_rows(stack.database_url, project.id) == 20_000
