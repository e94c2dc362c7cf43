"""Starting without the server: the disk cache, bootstrap files and offline mode, and waiting
for definitions with ``flags_ready_timeout``."""

from __future__ import annotations

import json
import signal
import socket
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from devflow_sdk import FlagOptions
from devflow_sdk._flagsync import NOT_READY, UNAVAILABLE
from devflow_sdk.errors import ConfigError

from services.cli.embedded import free_port
from tests.flags.factories import admin, create, multivariate_flag, property_flag, rollout_flag
from tests.sdk.flags_client.proxy import Proxy
from tests.sdk.flags_client.support import ManagerFactory
from tests.support import Stack, wait_for

USERS = [f"user-{i}" for i in range(30)]


def _flag_set(h: httpx.Client, project: Any) -> None:
    create(h, project, rollout_flag("half", 50))
    create(h, project, multivariate_flag("mv", {"a": 50, "b": 50}, {"b": '{"n": 2}'}))
    create(h, project, property_flag("pro", "plan", "pro"))


def _values(manager: Any) -> list[Any]:
    return [
        (manager.get_flag("half", u), manager.get_flag("mv", u), manager.get_payload("mv", u))
        for u in USERS
    ]


def test_cached_definitions_serve_a_restart_during_an_outage(
    stack: Stack, make_manager: ManagerFactory, tmp_path: Path
) -> None:
    server = stack.serve(name="flags-cache", services=("flags",))
    project = stack.project()
    with httpx.Client(base_url=server.url, timeout=30) as h:
        _flag_set(h, project)
    first = make_manager(server.url, project, cache_dir=str(tmp_path), flags_ready_timeout=10)
    assert first.ready
    cache_files = list(tmp_path.glob("devflow-flags-*.json"))
    assert len(cache_files) == 1
    assert stat.S_IMODE(cache_files[0].stat().st_mode) == 0o600  # definitions name people
    before = _values(first)
    etag = first.definitions_etag
    first.shutdown()

    server.process.kill(signal.SIGKILL)
    started = time.monotonic()
    second = make_manager(server.url, project, cache_dir=str(tmp_path), flags_ready_timeout=60)
    # The first attempt failed at once; with the cache there is no reason to wait longer.
    assert time.monotonic() - started < 30
    assert second.ready
    assert second.definitions_etag == etag
    assert _values(second) == before
    assert second.get_flag("pro", "u1", person_properties={"plan": "pro"}) is True
    # Undecidable locally, and the server is down: the default, no exception.
    details = second.get_flag_details("pro", "u1")
    assert (details.value, details.error) == (None, UNAVAILABLE)
    assert second.is_enabled("pro", "u1") is False


def test_a_damaged_cache_is_ignored(
    server: Any, http: httpx.Client, project: Any, make_manager: ManagerFactory, tmp_path: Path
) -> None:
    create(http, project, rollout_flag("ok", 100))
    first = make_manager(server.url, project, cache_dir=str(tmp_path), flags_ready_timeout=10)
    (cache_file,) = tmp_path.glob("devflow-flags-*.json")
    first.shutdown()
    cache_file.write_bytes(b'{"etag": "x", "definitions": {"flags": ')
    manager = make_manager(server.url, project, cache_dir=str(tmp_path), flags_ready_timeout=10)
    assert manager.get_flag("ok", "u1") is True  # from the server, not the broken file
    rewritten = json.loads(cache_file.read_bytes())  # and the file was written whole again
    assert rewritten["etag"] == manager.definitions_etag


def test_offline_bootstrap_evaluates_without_any_request(
    server: Any,
    http: httpx.Client,
    project: Any,
    proxy_to: Any,
    make_manager: ManagerFactory,
    tmp_path: Path,
) -> None:
    _flag_set(http, project)
    r = http.get("/flags/definitions", params={"token": project.token}, headers=admin(project))
    path = tmp_path / "flags.json"
    path.write_bytes(r.content)
    proxy: Proxy = proxy_to(server.url)
    online = make_manager(server.url, project, flags_ready_timeout=10, stream=False)

    offline = make_manager(proxy.url, project, offline=True, bootstrap=path)
    assert offline.ready
    assert _values(offline) == _values(online)
    assert offline.get_all_flags("u1", person_properties={"plan": "pro"})["pro"] is True
    # Undecidable without the plan: offline never asks, so there is no answer.
    assert offline.get_flag_details("pro", "u1").error == UNAVAILABLE
    assert "pro" not in offline.get_all_flags("u1")
    assert proxy.log == []
    # Even without a secret key, a bootstrap file means local evaluation.
    keyless = make_manager(proxy.url, project, secret=False, offline=True, bootstrap=str(path))
    assert _values(keyless) == _values(online)
    assert proxy.log == []


def test_bootstrap_is_the_first_answer_until_the_server_has_spoken(
    server: Any, http: httpx.Client, project: Any, make_manager: ManagerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"flags": [{**rollout_flag("boot", 0), "id": 1, "active": True}]}))
    create(http, project, rollout_flag("boot", 100))
    changes: list[Any] = []
    manager = make_manager(server.url, project, bootstrap=path, poll_interval=3600)
    manager.on_change(changes.append)
    # Ready at once from the file; then the server's definitions replace it.
    assert manager.ready
    wait_for(lambda: manager.get_flag("boot", "u1", send_exposure=False) is True)
    assert changes[-1].source == "server"
    assert changes[-1].previous_etag is None


def test_flags_ready_timeout_returns_when_the_server_is_unreachable(
    project: Any, make_manager: ManagerFactory
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    manager = make_manager(dead, project, flags_ready_timeout=1.0)
    assert time.monotonic() - started >= 1.0
    assert not manager.ready
    assert manager.wait_ready(0.1) is False
    # No definitions and no server: defaults, never an exception.
    assert manager.get_flag("anything", "u1") is None
    assert manager.get_flag_details("anything", "u1").error == NOT_READY
    assert manager.is_enabled("anything", "u1") is False
    assert manager.get_payload("anything", "u1") is None
    assert manager.get_all_flags("u1") == {}


def test_flags_ready_timeout_bounds_a_server_that_never_answers(
    project: Any, make_manager: ManagerFactory
) -> None:
    # Accepts connections (the kernel's backlog) and never answers a byte.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        manager = make_manager(host, project, flags_ready_timeout=0.5, remote_fallback=False)
        waited = time.monotonic() - started
        assert 0.5 <= waited < 4.0  # the transport's own timeout is 5 s
        assert not manager.ready
        assert manager.get_flag("x", "u1") is None


def test_bad_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="poll_interval"):
        FlagOptions(poll_interval=0)
    with pytest.raises(ConfigError, match="flags_ready_timeout"):
        FlagOptions(flags_ready_timeout=-1)


def test_a_missing_bootstrap_file_is_a_configuration_error(
    project: Any, make_manager: ManagerFactory, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="bootstrap"):
        make_manager("http://127.0.0.1:9", project, offline=True, bootstrap=tmp_path / "none")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="bootstrap"):
        make_manager("http://127.0.0.1:9", project, offline=True, bootstrap=tmp_path / "bad.json")
