"""Exit and fork: events are sent at interpreter exit, and forked children send their own."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from devflow_sdk import Client

from tests.sdk.client.conftest import ClientFactory
from tests.sdk.client.front import Reply
from tests.support import ROOT, Server, all_events, wait_for

_mp = multiprocessing.get_context("fork")


def _runs(server: Server, project: Any) -> Counter[str]:
    return Counter(e["event"] for e in all_events(server.url, project.secret_key))


def _wait_runs(server: Server, project: Any, expected: dict[str, int]) -> None:
    wait_for(lambda: _runs(server, project) == expected, 30)


def test_events_are_sent_at_exit_without_flush(server: Server, project: Any) -> None:
    """The script captures with a 60 s flush interval and returns: atexit sends them."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.sdk.client.child",
            "exit",
            server.url,
            project.token,
            "at_exit",
            "150",
        ],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    _wait_runs(server, project, {"at_exit": 150})


def test_a_forked_child_sends_its_own_events_and_not_the_parents(
    server: Server, project: Any, make_client: ClientFactory
) -> None:
    client = make_client(server.url, project.token, flush_interval=60)
    for i in range(10):
        client.capture("parent_before", "p", {"i": i})  # queued, not sent, at fork time
    pid = os.fork()
    if pid == 0:  # the child: capture, flush, leave without running the parent's test code
        code = 1
        try:
            for i in range(20):
                client.capture("child", "c", {"i": i})
            code = 0 if client.flush(30) and client.stats.sent == 20 else 2
            client.shutdown()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.capture("parent_after", "p")
    assert client.flush(30)
    assert client.stats.sent == 11  # the child's counters are its own
    _wait_runs(server, project, {"parent_before": 10, "child": 20, "parent_after": 1})


def _mp_child(client: Client, n: int) -> None:
    # No flush: multiprocessing ends the child with os._exit, and the client's exit hook runs
    # from multiprocessing's finalizers.
    for i in range(n):
        client.capture("mp_child", "c", {"i": i, "pid": os.getpid()})


def test_multiprocessing_children_send_without_flushing(
    server: Server, project: Any, make_client: ClientFactory
) -> None:
    client = make_client(server.url, project.token, flush_interval=60)
    client.capture("parent", "p")
    children = [_mp.Process(target=_mp_child, args=(client, 25)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert client.flush(30)
    _wait_runs(server, project, {"parent": 1, "mp_child": 75})


def _spool_child(client: Client, paths: Any) -> None:
    for i in range(15):
        client.capture("spool_child", "c", {"i": i})
    client.flush(30)
    paths.put(str(client._pipeline.spool.own.path))  # type: ignore[union-attr]


def test_with_a_spool_a_child_writes_an_area_of_its_own(
    server: Server, project: Any, make_client: ClientFactory, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    client = make_client(server.url, project.token, spool_dir=spool)
    client.capture("spool_parent", "p")
    assert client.flush(30)
    parent_area = client._pipeline.spool.own.path  # type: ignore[union-attr]
    assert parent_area == spool / "main"
    paths = _mp.Queue()
    child = _mp.Process(target=_spool_child, args=(client, paths))
    child.start()
    child_area = Path(paths.get(timeout=60))
    child.join(60)
    assert child.exitcode == 0
    assert child_area.parent == spool
    assert child_area.name.startswith(f"p-{child.pid}-")
    _wait_runs(server, project, {"spool_parent": 1, "spool_child": 15})
    assert not child_area.exists()  # removed by the child once everything was acknowledged


def _dying_child(client: Client) -> None:
    for i in range(12):
        client.capture("orphaned", "c", {"i": i})
    wait_for(lambda: client.stats.spooled == 12, 30)
    os._exit(0)  # dies without shutdown: its events are on disk only


def test_a_dead_childs_spooled_events_are_adopted_by_the_parent(
    server: Server, project: Any, make_client: ClientFactory, front_of: Any, tmp_path: Path
) -> None:
    front = front_of(server.url)
    down = True
    front.script = lambda _: Reply(503, b"", {"Retry-After": "0.2"}) if down else None
    client = make_client(front.url, project.token, spool_dir=tmp_path / "spool")
    child = _mp.Process(target=_dying_child, args=(client,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    areas = [p for p in (tmp_path / "spool").iterdir() if p.name.startswith("p-")]
    assert len(areas) == 1
    assert list(areas[0].glob("*.seg"))
    down = False
    _wait_runs(server, project, {"orphaned": 12})
    wait_for(lambda: not areas[0].exists(), 30)
