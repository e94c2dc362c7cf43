"""Definitions kept live: the SSE stream, reconnecting after a server restart, and ETag polling
whenever the stream is unavailable. Real server processes, real PostgreSQL and NATS."""

from __future__ import annotations

import signal
import time
from typing import Any

import httpx

from services.cli.embedded import free_port
from tests.flags.factories import admin, create, rollout_flag
from tests.sdk.flags_client.proxy import Proxy
from tests.sdk.flags_client.support import ManagerFactory
from tests.support import Server, Stack, wait_for


def _rollout(manager: Any, key: str) -> Any:
    snapshot = manager._store.current
    if snapshot is None or key not in snapshot.flags:
        return None
    return snapshot.flags[key]["filters"]["groups"][0]["rollout_percentage"]


def test_a_change_reaches_a_running_manager_through_the_stream(
    server: Server, http: httpx.Client, project: Any, make_manager: ManagerFactory
) -> None:
    create(http, project, rollout_flag("live", 0))
    manager = make_manager(server.url, project, flags_ready_timeout=10, poll_interval=3600)
    assert manager.ready
    assert manager.get_flag("live", "u1") is False
    wait_for(lambda: manager.streaming)
    changes: list[Any] = []
    manager.on_change(changes.append)
    etag = manager.definitions_etag

    latencies = []
    for pct in (100, 0, 100):
        started = time.perf_counter()
        r = http.patch(
            "/api/feature_flags/live", json={"rollout_percentage": pct}, headers=admin(project)
        )
        assert r.status_code == 200, r.text
        wait_for(lambda pct=pct: _rollout(manager, "live") == pct, timeout_s=30, interval_s=0.002)
        latencies.append(time.perf_counter() - started)
    print(f"\nSSE: admin PATCH -> FlagsManager swap: {[f'{s * 1000:.0f} ms' for s in latencies]}")

    # Polling is an hour away, so only the stream can have brought these.
    assert manager.get_flag("live", "u1") is True
    assert manager.definitions_etag != etag
    assert [c.flags_changed for c in changes] == [["live"]] * 3
    assert changes[0].previous_etag == etag
    assert all(c.source == "server" for c in changes)


def test_the_stream_reconnects_after_the_server_restarts(
    isolated_stack: Stack, make_manager: ManagerFactory
) -> None:
    port = free_port()

    def start(name: str) -> Server:
        proc = isolated_stack.spawn("run", "flags", "--port", str(port), name=name)
        s = Server(f"http://127.0.0.1:{port}", proc)
        s.wait_ready()
        return s

    first = start("flags-1")
    project = isolated_stack.project()
    with httpx.Client(base_url=first.url, timeout=30) as h:
        create(h, project, rollout_flag("restart", 10))
    manager = make_manager(first.url, project, flags_ready_timeout=10, poll_interval=3600)
    wait_for(lambda: manager.streaming)

    # (The server's graceful shutdown waits up to 15 s for open streams before ending them.)
    first.process.kill(signal.SIGTERM)
    wait_for(lambda: not manager.streaming, timeout_s=60)
    # While the server is away the last definitions keep evaluating.
    assert _rollout(manager, "restart") == 10
    assert manager.get_flag("restart", "someone") is not None

    second = start("flags-2")
    with httpx.Client(base_url=second.url, timeout=30) as h:
        r = h.patch(
            "/api/feature_flags/restart", json={"rollout_percentage": 90}, headers=admin(project)
        )
        assert r.status_code == 200, r.text
    # Backoff has a 30 s ceiling; polling is an hour away, so this is the stream again.
    wait_for(lambda: _rollout(manager, "restart") == 90, timeout_s=60)
    wait_for(lambda: manager.streaming)


def test_polling_with_etags_when_streaming_is_off(
    server: Server,
    http: httpx.Client,
    project: Any,
    proxy_to: Any,
    make_manager: ManagerFactory,
) -> None:
    create(http, project, rollout_flag("polled", 10))
    proxy: Proxy = proxy_to(server.url)
    manager = make_manager(proxy.url, project, stream=False, poll_interval=0.2)
    assert manager.wait_ready(10)
    wait_for(lambda: proxy.requests("GET", "/flags/definitions", 304) >= 3)
    http.patch("/api/feature_flags/polled", json={"rollout_percentage": 60}, headers=admin(project))
    wait_for(lambda: _rollout(manager, "polled") == 60)
    assert proxy.requests("GET", "/api/feature_flags/stream") == 0
    # Unchanged definitions cost a 304 each; only the first load and the change were sent whole.
    assert proxy.requests("GET", "/flags/definitions", 200) == 2


def test_polling_takes_over_while_the_stream_endpoint_fails(
    server: Server,
    http: httpx.Client,
    project: Any,
    proxy_to: Any,
    make_manager: ManagerFactory,
) -> None:
    create(http, project, rollout_flag("fallback", 10))
    proxy: Proxy = proxy_to(server.url)
    proxy.fail["/api/feature_flags/stream"] = 503
    manager = make_manager(proxy.url, project, poll_interval=0.3, flags_ready_timeout=10)
    assert manager.ready
    wait_for(lambda: proxy.requests("GET", "/api/feature_flags/stream", 503) >= 2)
    http.patch(
        "/api/feature_flags/fallback", json={"rollout_percentage": 70}, headers=admin(project)
    )
    wait_for(lambda: _rollout(manager, "fallback") == 70)
    assert not manager.streaming

    # When the endpoint recovers, the stream is used again (through the proxy).
    del proxy.fail["/api/feature_flags/stream"]
    wait_for(lambda: manager.streaming, timeout_s=60)
    http.patch(
        "/api/feature_flags/fallback", json={"rollout_percentage": 20}, headers=admin(project)
    )
    wait_for(lambda: _rollout(manager, "fallback") == 20)
