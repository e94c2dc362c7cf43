"""The flag features of docs/sdk-python-flags.md through the public API only: ``FlagsManager``
built as documented, and ``Client``'s ``get_flag_details``, ``on_change``, ``flags`` and the
streaming choice. Real server, PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from devflow_sdk import (
    AsyncClient,
    Client,
    FlagDetails,
    FlagOptions,
    FlagsChange,
    FlagsManager,
)

from tests.flags.factories import admin, create, multivariate_flag, rollout_flag
from tests.support import Server, all_events, wait_for


def _patch(http: httpx.Client, project: Any, key: str, **body: Any) -> None:
    r = http.patch(f"/api/feature_flags/{key}", json=body, headers=admin(project))
    assert r.status_code == 200, r.text


def test_a_flags_manager_built_as_documented(
    server: Server, http: httpx.Client, project: Any
) -> None:
    create(http, project, multivariate_flag("mv", {"a": 100}, {"a": '{"n": 1}'}))
    sent: list[tuple[str, str, dict[str, Any]]] = []
    with FlagsManager(
        token=project.token,
        host=server.url,
        secret_key=project.secret_key,
        capture=lambda event, distinct_id, properties: sent.append(
            (event, distinct_id, properties)
        ),
        options=FlagOptions(flags_ready_timeout=10),
    ) as manager:
        assert manager.ready
        assert manager.wait_ready(0)
        details = manager.get_flag_details("mv", "user-1")
        assert isinstance(details, FlagDetails)
        assert (details.value, details.variant, details.enabled) == ("a", "a", True)
        assert details.payload == '{"n": 1}'
        assert details.locally_evaluated
        assert details.error is None
        assert details.reason == "condition_match"
        assert manager.get_flag_details("nope", "user-1").error == "flag_not_found"
        assert manager.definitions_etag
    # Exposures leave through the capture callable, once per (user, flag, value).
    assert [(e, d, p["$feature_flag"]) for e, d, p in sent] == [
        ("$feature_flag_called", "user-1", "mv")
    ]


def test_a_flags_manager_without_a_secret_key_asks_the_server(
    server: Server, http: httpx.Client, project: Any
) -> None:
    create(http, project, rollout_flag("remote", 100))
    with FlagsManager(project.token, server.url) as manager:
        details = manager.get_flag_details("remote", "user-1", send_exposure=False)
        assert details.value is True
        assert not details.locally_evaluated
        assert details.request_id


@pytest.fixture
def client(server: Server, project: Any) -> Iterator[Client]:
    c = Client(
        project.token,
        host=server.url,
        secret_key=project.secret_key,
        flush_interval=0.05,
        flag_options=FlagOptions(flags_ready_timeout=10, poll_interval=3600),
    )
    yield c
    c.shutdown()


def test_client_details_and_changes(
    server: Server, http: httpx.Client, project: Any, client: Client
) -> None:
    create(http, project, rollout_flag("gate", 0))
    wait_for(lambda: client.flags.definitions_etag and "gate" in client.get_all_flags("u1"))
    details = client.get_flag_details("gate", "u1")
    assert (details.value, details.reason) == (False, "out_of_rollout_bound")
    wait_for(lambda: client.flags.streaming)  # the default: follow the stream

    changes: list[FlagsChange] = []
    unsubscribe = client.on_change(changes.append)
    _patch(http, project, "gate", rollout_percentage=100)
    wait_for(lambda: changes)
    assert changes[0].flags_changed == ["gate"]
    assert changes[0].source == "server"
    assert client.get_flag_details("gate", "u1").value is True
    assert client.flush(30)

    def responses() -> set[Any]:
        stored = all_events(server.url, project.secret_key, event="$feature_flag_called")
        return {e["properties"]["$feature_flag_response"] for e in stored}

    wait_for(lambda: responses() == {False, True})  # one exposure per value

    unsubscribe()
    _patch(http, project, "gate", rollout_percentage=0)
    wait_for(lambda: client.get_flag("gate", "u1", send_exposure=False) is False)
    assert len(changes) == 1


def test_client_without_streaming_polls(server: Server, http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("polled", 0))
    with Client(
        project.token,
        host=server.url,
        secret_key=project.secret_key,
        flag_options=FlagOptions(flags_ready_timeout=10, stream=False, poll_interval=0.2),
    ) as client:
        assert client.flags.ready
        assert client.get_flag("polled", "u1", send_exposure=False) is False
        _patch(http, project, "polled", rollout_percentage=100)
        wait_for(lambda: client.get_flag("polled", "u1", send_exposure=False) is True)
        assert not client.flags.streaming


def test_async_client_details(server: Server, http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("async-gate", 100))

    async def main() -> FlagDetails:
        async with AsyncClient(
            project.token,
            host=server.url,
            secret_key=project.secret_key,
            flag_options=FlagOptions(flags_ready_timeout=10),
        ) as client:
            return await client.get_flag_details("async-gate", "u1", send_exposure=False)

    details = asyncio.run(main())
    assert details.value is True
    assert details.locally_evaluated
