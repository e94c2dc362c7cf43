"""The recordings API: list filters and cursor pages, delete, settings, long sessions streamed,
quarantined and unreadable chunks."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import psycopg

from tests.replay.factories import (
    T0,
    admin,
    click,
    console_error,
    count,
    envelope,
    events_of,
    full_snapshot,
    iso,
    legacy_pieces,
    meta,
    mouse_move,
    recording,
    send,
    snapshot_event,
    wait_replay,
)
from tests.support import Stack


def _session(
    http: httpx.Client,
    project: Any,
    *,
    start: int,
    seconds: int,
    href: str,
    errors: int = 0,
    distinct_id: str = "visitor-1",
) -> str:
    sid = str(uuid.uuid4())
    events = [meta(start, href), full_snapshot(start + 1), mouse_move(start + 500)]
    events += [console_error(start + 600 + i) for i in range(errors)]
    events.append(click(start + seconds * 1000))
    assert send(http, project, sid, events, distinct_id=distinct_id)
    wait_replay(http, project, sid)
    return sid


def _list(http: httpx.Client, project: Any, **params: Any) -> list[str]:
    r = http.get("/api/replays", params=params, headers=admin(project))
    assert r.status_code == 200, r.text
    return [row["session_id"] for row in r.json()["results"]]


def test_list_filters_and_pages(http: httpx.Client, stack: Stack) -> None:
    project = stack.project("list")
    a = _session(http, project, start=T0, seconds=5, href="https://shop.example/cart")
    b = _session(http, project, start=T0 + 60_000, seconds=90, href="https://shop.example/Checkout",
                 errors=2, distinct_id="alice")  # fmt: skip
    c = _session(http, project, start=T0 + 120_000, seconds=30, href="https://blog.example/",
                 distinct_id="alice")  # fmt: skip
    assert _list(http, project) == [c, b, a]  # newest first
    assert _list(http, project, distinct_id="alice") == [c, b]
    assert _list(http, project, min_duration_ms=30_000) == [c, b]
    assert _list(http, project, url_contains="checkout") == [b]  # case-insensitive
    assert _list(http, project, url_contains="shop.example") == [b, a]
    assert _list(http, project, has_console_errors="true") == [b]
    assert _list(http, project, has_console_errors="false") == [c, a]
    assert _list(http, project, date_from=iso(T0 + 60_000)) == [c, b]
    assert _list(http, project, date_to=iso(T0 + 60_000)) == [a]
    assert _list(http, project, date_from=iso(T0 + 1), date_to=iso(T0 + 100_000)) == [b]
    # Cursor pages: one at a time, nothing repeated or skipped.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = http.get("/api/replays", params=params, headers=admin(project)).json()
        seen += [row["session_id"] for row in page["results"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == [c, b, a]
    assert _list(http, project, limit=2, distinct_id="alice") == [c, b]
    row = http.get(f"/api/replays/{b}", headers=admin(project)).json()
    assert row["console_error_count"] == 2
    assert row["first_url"] == "https://shop.example/Checkout"
    assert row["duration_ms"] == 90_000


def test_delete(http: httpx.Client, project: Any, stack: Stack) -> None:
    sid = str(uuid.uuid4())
    assert send(http, project, sid, recording())
    wait_replay(http, project, sid)
    r = http.delete(f"/api/replays/{sid}", headers=admin(project))
    assert r.status_code == 204, r.text
    assert http.get(f"/api/replays/{sid}", headers=admin(project)).status_code == 404
    assert http.get(f"/api/replays/{sid}/snapshots", headers=admin(project)).status_code == 404
    assert http.delete(f"/api/replays/{sid}", headers=admin(project)).status_code == 404
    for table in ("replay_chunks", "replay_snapshot_ids", "replay_sessions"):
        sql = f"SELECT count(*) FROM {table} WHERE project_id = %s AND session_id = %s"
        assert count(stack.database_url, sql, project.id, sid) == 0


def test_settings(http: httpx.Client, project: Any) -> None:
    assert http.get("/api/replays/settings", headers=admin(project)).json() == {
        "retention_days": 30
    }
    r = http.put("/api/replays/settings", json={"retention_days": 7}, headers=admin(project))
    assert r.status_code == 200, r.text
    assert r.json() == {"retention_days": 7}
    assert http.get("/api/replays/settings", headers=admin(project)).json() == {"retention_days": 7}


def test_a_long_session_streams_every_chunk_in_order(http: httpx.Client, project: Any) -> None:
    sid = str(uuid.uuid4())
    sent: list[dict[str, Any]] = []
    # 40 requests of 15 s each: ten minutes of moves and clicks.
    for part in range(40):
        base = T0 + part * 15_000
        events = [meta(base), full_snapshot(base + 1)] if part == 0 else []
        events += [mouse_move(base + 100 * k, k, k) for k in range(1, 140)]
        events.append(click(base + 14_500))
        sent += events
        assert send(http, project, sid, events)
    # The consumer stores what one fetch brings of a session as one chunk: 1 to 40 chunks.
    meta_ = wait_replay(http, project, sid, event_count=len(sent))
    assert 1 <= meta_["chunk_count"] <= 40
    assert meta_["click_count"] == 40
    with http.stream("GET", f"/api/replays/{sid}/snapshots", headers=admin(project)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        assert "content-length" not in r.headers  # written as it is read
        body = b"".join(r.iter_bytes())
    assert json.loads(body)["events"] == sent


def test_undecodable_snapshots_are_quarantined_and_never_block(
    http: httpx.Client, project: Any, stack: Stack
) -> None:
    sid = str(uuid.uuid4())
    good = recording()
    bad_shape = [{"type": 3, "data": {"source": 1}}]  # no timestamp
    bad_data = [{"type": 4, "data": "href", "timestamp": T0 + 5}]
    pieces = legacy_pieces(good, 2)
    broken_legacy = dict(pieces[0], data="!!!not base64!!!", chunk_count=1)
    incomplete = pieces[1]  # its other piece never comes
    batch = [
        snapshot_event(None, sid, good),
        snapshot_event(None, sid, bad_shape, window_id="window-2"),
        snapshot_event(None, sid, bad_data, window_id="window-3"),
        snapshot_event(None, sid, broken_legacy, window_id="window-4"),
        snapshot_event(None, sid, incomplete, window_id="window-5"),
    ]
    r = http.post("/s/", json=envelope(project.token, *batch))
    assert r.status_code == 200, r.text
    meta_ = wait_replay(http, project, sid, quarantined_chunks=4)
    assert meta_["chunk_count"] == 1
    assert meta_["click_count"] == 2
    assert events_of(http, project, sid) == good
    with psycopg.connect(stack.database_url) as conn:
        reasons = [
            r[0]
            for r in conn.execute(
                "SELECT reason FROM replay_quarantine WHERE project_id = %s ORDER BY reason",
                (project.id,),
            ).fetchall()
        ]
    assert len(reasons) == 4
    assert any("not an rrweb event" in x for x in reasons)
    assert any("data must be an object" in x for x in reasons)
    assert any("base64" in x for x in reasons)
    assert any("1 of 2 pieces" in x for x in reasons)


def test_a_corrupt_stored_chunk_is_skipped_on_playback(
    http: httpx.Client, project: Any, stack: Stack
) -> None:
    sid = str(uuid.uuid4())
    first, second = recording()[:5], recording()[5:]
    assert send(http, project, sid, first)
    wait_replay(http, project, sid, chunk_count=1)
    assert send(http, project, sid, second)
    wait_replay(http, project, sid, chunk_count=2)
    with psycopg.connect(stack.database_url) as conn:
        conn.execute(
            "UPDATE replay_chunks SET data = '\\x28b52ffd00'::bytea "
            "WHERE project_id = %s AND session_id = %s AND first_ms = %s",
            (project.id, sid, T0),
        )
    assert events_of(http, project, sid) == second
