"""The on-disk spool: exactly once across a server outage, a killed client and a restart."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.sdk.client.conftest import ClientFactory
from tests.sdk.client.front import Reply
from tests.support import ROOT, Server, Stack, all_events, free_port, wait_for


def _serve_on(stack: Stack, port: int, name: str) -> Server:
    proc = stack.spawn("run", "ingest", "--port", str(port), name=name)
    server = Server(f"http://127.0.0.1:{port}", proc)
    server.wait_ready()
    return server


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sdk.client.child", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _runs(url: str, secret: str) -> Counter[str]:
    return Counter(e["event"] for e in all_events(url, secret))


def test_exactly_once_across_an_outage_a_killed_client_and_a_restart(
    isolated_stack: Stack, tmp_path: Path
) -> None:
    stack, spool = isolated_stack, str(tmp_path / "spool")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    project = stack.project()
    server = _serve_on(stack, port, "api-1")

    # 1. Server up: 50 events delivered through the spool.
    stats = _finish(_child("flush", url, project.token, "before", "50", spool))
    assert stats["sent"] == 50

    # 2. Server down: a client spools 200 events and is killed (SIGKILL, no shutdown).
    server.process.kill(signal.SIGKILL)
    hung = _child("spool-and-hang", url, project.token, "during", "200", spool)
    assert hung.stdout is not None
    assert hung.stdout.readline().strip() == "READY"
    hung.kill()
    hung.wait()
    segments = list((tmp_path / "spool" / "main").glob("*.seg"))
    assert segments, "the killed client left its events on disk"

    # 3. Server back on the same address; a new client process sends what the dead one
    # left, then its own events.
    server = _serve_on(stack, port, "api-2")
    stats = _finish(_child("drain", url, project.token, "after", "10", spool))
    assert stats["sent"] == 210
    assert stats["spooled"] == 0

    events = wait_for(
        lambda: (e := all_events(url, project.secret_key)) and len(e) >= 260 and e, 30
    )
    assert Counter(e["event"] for e in events) == {"before": 50, "during": 200, "after": 10}
    assert len({e["uuid"] for e in events}) == 260
    during = sorted(e["properties"]["i"] for e in events if e["event"] == "during")
    assert during == list(range(200))
    # The spool is empty and tidy once everything is acknowledged.
    assert not list((tmp_path / "spool" / "main").glob("*.seg"))


def test_a_batch_replayed_after_a_crash_is_stored_once(
    isolated_stack: Stack, tmp_path: Path
) -> None:
    """The crash window: acknowledged, but the cursor not yet written. Replaying the spool
    from its start (cursor lost) resends the same uuids; the server stores them once."""
    stack, spool = isolated_stack, str(tmp_path / "spool")
    project = stack.project()
    server = stack.serve(name="api")
    hung = _child("spool-and-hang", server.url, project.token, "replayed", "30", spool)
    assert hung.stdout is not None
    assert hung.stdout.readline().strip() == "READY"
    wait_for(lambda: _runs(server.url, project.secret_key)["replayed"] == 30, 30)
    hung.kill()
    hung.wait()
    (tmp_path / "spool" / "main" / "cursor").unlink()  # as if the crash came before it
    stats = _finish(_child("drain", server.url, project.token, "later", "5", spool))
    assert stats["sent"] == 35  # the 30 were sent again...
    wait_for(lambda: _runs(server.url, project.secret_key)["later"] == 5, 30)
    assert _runs(server.url, project.secret_key) == {"replayed": 30, "later": 5}  # ...once


def test_memory_and_spool_full_drops_newest_and_counts(
    make_client: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    client = make_client(
        dead,
        "phc_x",
        spool_dir=tmp_path / "spool",
        spool_max_bytes=2 * 1_048_576,
        max_queue_size=100,
        shutdown_timeout=0.5,
    )
    blob = "x" * 1000
    messages = lambda: "\n".join(r.getMessage() for r in caplog.records)  # noqa: E731
    n = 0
    while "the spool is full" not in messages():  # fill the spool, 50 events at a time
        for _ in range(50):
            client.capture("big", "u", {"i": n, "blob": blob})
            n += 1
        wait_for(lambda: client.stats.queued == 0 or "the spool is full" in messages(), 30)
        assert n < 10_000
    for _ in range(300):  # then memory: 100 fit, the rest are dropped
        client.capture("big", "u", {"i": n, "blob": blob})
        n += 1
    stats = wait_for(
        lambda: (s := client.stats).queued + s.spooled + s.dropped_queue_full == n and s, 30
    )
    assert stats.dropped_queue_full > 0
    assert 1400 < stats.spooled < 2000  # about 2 MiB of ~1.2 KiB events
    assert "the capture queue is full" in messages()
    client.shutdown(0.5)
    # What memory held at shutdown could not go to the full spool: lost, and counted.
    stats = client.stats
    assert stats.dropped_shutdown > 0
    assert stats.spooled + stats.dropped_queue_full + stats.dropped_shutdown == n


def test_a_torn_tail_is_truncated_and_a_corrupt_record_skipped(
    server: Server, project: Any, make_client: ClientFactory, front_of: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    front = front_of(server.url)
    front.script = lambda _: Reply(503, b"", {"Retry-After": "30"})
    first = make_client(front.url, project.token, spool_dir=spool, shutdown_timeout=0.2)
    for i in range(20):
        first.capture("torn", "u", {"i": i})
    wait_for(lambda: first.stats.spooled == 20, 30)
    first.shutdown(0.2)
    (segment,) = (spool / "main").glob("*.seg")
    data = segment.read_bytes()
    # Flip a byte inside the 20th record (its checksum fails), then a torn half-record.
    damaged = bytearray(data)
    damaged[-5] ^= 0xFF
    segment.write_bytes(bytes(damaged) + b"\x40\x00\x00\x00\x12")

    front.script = lambda _: None
    second = make_client(front.url, project.token, spool_dir=spool)
    events = wait_for(
        lambda: (e := all_events(server.url, project.secret_key)) and len(e) >= 19 and e, 30
    )
    assert sorted(e["properties"]["i"] for e in events) == list(range(19))
    assert second.flush(30)
    assert second.stats.spool_corrupt == 1


def test_flush_with_a_spool_waits_for_the_server(
    server: Server, project: Any, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(server.url, project.token, spool_dir=tmp_path / "spool")
    ids = [client.capture("spooled", "u", {"i": i}) for i in range(300)]
    assert client.flush(30)
    stats = client.stats
    assert (stats.sent, stats.spooled, stats.queued) == (300, 0, 0)
    events = wait_for(
        lambda: (e := all_events(server.url, project.secret_key)) and len(e) >= 300 and e, 30
    )
    assert sorted(e["uuid"] for e in events) == sorted(ids)  # type: ignore[type-var]
