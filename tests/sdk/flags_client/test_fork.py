"""A forked child (gunicorn/uwsgi workers, multiprocessing) keeps its flags live: threads don't
survive ``fork()``, so ``after_fork`` starts a sync thread of the child's own."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx

from tests.flags.factories import admin, create, rollout_flag
from tests.sdk.flags_client.support import ManagerFactory
from tests.support import Server, wait_for


def _rollout(manager: Any) -> Any:
    current = manager._store.current
    return current.flags["forked"]["filters"]["groups"][0]["rollout_percentage"]


def _child(manager: Any, ready_w: int, go_r: int, result_w: int) -> None:
    manager.after_fork()
    deadline = time.monotonic() + 30
    while not manager.streaming and time.monotonic() < deadline:
        time.sleep(0.02)
    os.write(ready_w, b"1" if manager.streaming else b"0")
    os.read(go_r, 1)  # the parent has changed the flag
    while _rollout(manager) != 80 and time.monotonic() < deadline + 30:
        time.sleep(0.02)
    report = {"rollout": _rollout(manager), "value": manager.get_flag("forked", "u1")}
    manager.shutdown()
    os.write(result_w, json.dumps(report).encode())


def test_after_fork_restarts_the_stream_in_the_child(
    server: Server, http: httpx.Client, project: Any, make_manager: ManagerFactory
) -> None:
    create(http, project, rollout_flag("forked", 0))
    manager = make_manager(server.url, project, flags_ready_timeout=10, poll_interval=3600)
    wait_for(lambda: manager.streaming)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    result_r, result_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            _child(manager, ready_w, go_r, result_w)
            code = 0
        finally:
            os._exit(code)
    try:
        assert os.read(ready_r, 1) == b"1", "the child's stream did not connect"
        r = http.patch(
            "/api/feature_flags/forked", json={"rollout_percentage": 80}, headers=admin(project)
        )
        assert r.status_code == 200
        os.write(go_w, b"1")
        report = json.loads(os.read(result_r, 4096))
        assert report == {"rollout": 80, "value": report["value"]}
        assert isinstance(report["value"], bool)
    finally:
        _, status = os.waitpid(pid, 0)
        for fd in (ready_r, ready_w, go_r, go_w, result_r, result_w):
            os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's own thread is unaffected.
    wait_for(lambda: _rollout(manager) == 80)
