"""Recordings through ``POST /s`` and ``/batch``: every encoding, stored once, metadata rules."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

from tests.replay.factories import (
    T0,
    admin,
    click,
    console_error,
    count,
    envelope,
    events_of,
    full_snapshot,
    gzip_js,
    iso,
    legacy_pieces,
    meta,
    mouse_move,
    recording,
    send,
    snapshot_event,
    text_input,
    wait_replay,
)
from tests.support import Stack, wait_for


def _sid() -> str:
    return str(uuid.uuid4())


def test_a_recording_is_stored_with_its_metadata(http: httpx.Client, project: Any) -> None:
    sid = _sid()
    events = recording()
    r = http.post("/s/", json=envelope(project.token, snapshot_event(None, sid, events)))
    assert r.status_code == 200, r.text
    assert r.json() == {"status": 1}
    meta_ = wait_replay(http, project, sid)
    assert meta_["session_id"] == sid
    assert meta_["distinct_id"] == "visitor-1"
    assert meta_["person_id"] is None
    assert meta_["start_time"] == iso(T0)
    assert meta_["end_time"] == iso(T0 + 10_000)
    assert meta_["duration_ms"] == 10_000
    # Activity: moves at 1 s and 2 s, inputs at 3, 3.2, 3.4 s, mouse down/click at 4, 4.05 s
    # and a click at 10 s: gaps 1000+1000+200+200+600+50, and the last gap capped at 5 s.
    assert meta_["active_ms"] == 1000 + 1000 + 200 + 200 + 600 + 50 + 5000
    assert meta_["first_url"] == "https://shop.example/"
    assert meta_["urls"] == ["https://shop.example/"]
    assert meta_["click_count"] == 2
    assert meta_["keypress_count"] == 3
    assert meta_["console_error_count"] == 1
    assert meta_["chunk_count"] == 1
    assert meta_["event_count"] == len(events)
    assert meta_["raw_bytes"] == len(json.dumps(events, separators=(",", ":")))
    assert 0 < meta_["size_bytes"] < meta_["raw_bytes"]
    assert meta_["quarantined_chunks"] == 0
    assert meta_["window_ids"] == ["window-1"]
    assert events_of(http, project, sid) == events


def test_every_posthog_body_encoding_is_accepted(http: httpx.Client, project: Any) -> None:
    sessions = [_sid() for _ in range(5)]
    bodies = [envelope(project.token, snapshot_event(None, s, recording())) for s in sessions]
    # plain JSON, gzip-js (query), gzip (Content-Encoding), base64 form post, a bare list
    assert http.post("/s", json=bodies[0]).status_code == 200
    r = http.post("/s/?compression=gzip-js", content=gzip_js(bodies[1]))
    assert r.status_code == 200, r.text
    r = http.post("/s/", content=gzip_js(bodies[2]), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    form = "data=" + base64.b64encode(json.dumps(bodies[3]).encode()).decode()
    r = http.post(
        "/s/?compression=base64",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    r = http.post(
        f"/s/?token={project.token}", json=[snapshot_event(None, sessions[4], recording())]
    )
    assert r.status_code == 200, r.text
    for sid in sessions:
        assert wait_replay(http, project, sid)["click_count"] == 2


def test_beacon_gets_204(http: httpx.Client, project: Any) -> None:
    sid = _sid()
    r = http.post(
        "/s/?beacon=1&compression=gzip-js",
        content=gzip_js(envelope(project.token, snapshot_event(None, sid, recording()))),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 204, r.text
    wait_replay(http, project, sid)


def test_posthog_js_snapshots_on_batch_go_to_replay_not_to_events(
    http: httpx.Client, project: Any
) -> None:
    sid = _sid()
    pageview = {
        "event": "$pageview",
        "distinct_id": "visitor-1",
        "uuid": str(uuid.uuid4()),
        "timestamp": iso(T0 + 5000),
        "properties": {"$session_id": sid, "$current_url": "https://shop.example/"},
    }
    first, second = recording()[:6], recording()[6:]
    batch = {
        "api_key": project.token,
        "batch": [
            snapshot_event(None, sid, first, extra={"$current_url": "https://shop.example/start"}),
            pageview,
            snapshot_event(None, sid, second),
        ],
    }
    r = http.post("/batch/", json=batch)
    assert r.status_code == 200, r.text
    meta_ = wait_replay(http, project, sid, event_count=len(recording()))
    assert meta_["urls"] == ["https://shop.example/start", "https://shop.example/"]
    assert events_of(http, project, sid) == recording()

    # Only the page view is an analytics event; the recording is not.
    def timeline() -> Any:
        r = http.get(f"/api/replays/{sid}/events", headers=admin(project))
        return r.json()["results"]

    found = wait_for(timeline)
    assert [e["event"] for e in found] == ["$pageview"]
    assert found[0]["timestamp"] == iso(T0 + 5000)
    listed = http.get("/api/events", headers=admin(project)).json()["results"]
    assert [e["event"] for e in listed] == ["$pageview"]


def test_old_posthog_js_formats(http: httpx.Client, project: Any) -> None:
    # One rrweb event per $snapshot event, and the legacy chunked gzip-base64 pieces.
    single = _sid()
    events = recording()
    batch = [snapshot_event(None, single, e) for e in events]
    assert http.post("/s/", json=envelope(project.token, *batch)).status_code == 200
    assert wait_replay(http, project, single)["event_count"] == len(events)
    assert events_of(http, project, single) == events

    chunked = _sid()
    pieces = legacy_pieces(events, 3)
    batch = [snapshot_event(None, chunked, p) for p in pieces]
    assert http.post("/s/", json=envelope(project.token, *batch)).status_code == 200
    meta_ = wait_replay(http, project, chunked)
    assert meta_["event_count"] == len(events)
    assert meta_["quarantined_chunks"] == 0
    assert events_of(http, project, chunked) == events


def test_posthog_js_compressed_events_are_expanded(http: httpx.Client, project: Any) -> None:
    import gzip

    def squeeze(value: Any) -> str:
        return gzip.compress(json.dumps(value).encode()).decode("latin-1")

    sid = _sid()
    snap = full_snapshot(T0 + 1)
    compressed = {"type": 2, "data": squeeze(snap["data"]), "timestamp": T0 + 1, "cv": "2024-10"}
    mut = {
        "type": 3,
        "timestamp": T0 + 50,
        "cv": "2024-10",
        "data": {"source": 0, "adds": squeeze([]), "removes": squeeze([]),
                 "texts": squeeze([{"id": 7, "value": "Hi"}]), "attributes": squeeze([])},
    }  # fmt: skip
    batch = snapshot_event(None, sid, [meta(T0), compressed, mut])
    assert http.post("/s/", json=envelope(project.token, batch)).status_code == 200
    wait_replay(http, project, sid)
    stored = events_of(http, project, sid)
    assert stored[1] == snap
    assert stored[2]["data"]["texts"] == [{"id": 7, "value": "Hi"}]
    assert "cv" not in stored[2]


def test_chunks_come_back_in_timestamp_order(http: httpx.Client, project: Any) -> None:
    sid = _sid()
    events = recording()
    late, early = events[7:], events[:7]
    # The later half arrives first, in its own request; then two windows overlap in time.
    assert send(http, project, sid, late)
    wait_replay(http, project, sid, chunk_count=1)
    assert send(http, project, sid, early)
    wait_replay(http, project, sid, chunk_count=2)
    assert events_of(http, project, sid) == events
    other_window = [mouse_move(T0 + 2500), click(T0 + 3300)]
    body = envelope(project.token, snapshot_event(None, sid, other_window, window_id="window-2"))
    assert http.post("/s/", json=body).is_success
    meta_ = wait_replay(http, project, sid, chunk_count=3)
    assert meta_["click_count"] == 3
    assert sorted(meta_["window_ids"]) == ["window-1", "window-2"]
    merged = events_of(http, project, sid)
    assert [e["timestamp"] for e in merged] == sorted(e["timestamp"] for e in merged)
    assert len(merged) == len(events) + 2
    r = http.get(f"/api/replays/{sid}/snapshots?window_id=window-2", headers=admin(project))
    assert r.json()["events"] == other_window


def test_the_same_request_twice_is_stored_once(
    http: httpx.Client, project: Any, stack: Stack
) -> None:
    sid = _sid()
    body = envelope(project.token, snapshot_event(None, sid, recording()))
    for _ in range(3):
        assert http.post("/s/", json=body).status_code == 200
    # Same uuid inside a new request with another event: only the new one is added.
    extra = snapshot_event(None, sid, [click(T0 + 11_000)])
    assert http.post("/s/", json=envelope(project.token, body["batch"][0], extra)).is_success
    meta_ = wait_replay(http, project, sid, chunk_count=2)
    assert meta_["click_count"] == 3
    assert meta_["event_count"] == len(recording()) + 1
    stored = count(
        stack.database_url,
        "SELECT count(*) FROM replay_snapshot_ids WHERE project_id = %s AND session_id = %s",
        project.id,
        sid,
    )
    assert stored == 2


def test_keypresses_and_activity_rules(http: httpx.Client, project: Any) -> None:
    sid = _sid()
    events = [
        meta(T0, "https://shop.example/a"),
        full_snapshot(T0 + 1),
        text_input(T0 + 100, "a"),
        text_input(T0 + 200, "a"),  # same value again: not a keypress
        {"type": 3, "data": {"source": 5, "text": "on", "isChecked": True, "id": 12},
         "timestamp": T0 + 300},  # a checkbox: not a keypress
        {"type": 3, "data": {"source": 5, "text": "ab", "isChecked": False, "id": 9,
         "userTriggered": False}, "timestamp": T0 + 400},  # set by script: not a keypress
        text_input(T0 + 60_000, "abc"),  # after a minute idle: 5 s of that counts
        meta(T0 + 60_001, "https://shop.example/b"),
        meta(T0 + 60_002, "https://shop.example/a"),
    ]  # fmt: skip
    assert send(http, project, sid, events)
    meta_ = wait_replay(http, project, sid)
    assert meta_["keypress_count"] == 2
    assert meta_["active_ms"] == 100 + 100 + 100 + 5000
    assert meta_["duration_ms"] == 60_002
    assert meta_["urls"] == ["https://shop.example/a", "https://shop.example/b"]
    assert meta_["click_count"] == 0
    assert meta_["console_error_count"] == 0


def test_activity_across_chunks(http: httpx.Client, project: Any) -> None:
    sid = _sid()
    first = [meta(T0), full_snapshot(T0 + 1), mouse_move(T0 + 1000), mouse_move(T0 + 2000)]
    second = [mouse_move(T0 + 3000), click(T0 + 20_000)]
    for part in (second, first):
        assert send(http, project, sid, part)
    meta_ = wait_replay(http, project, sid, chunk_count=2)
    # 1000 inside the first, 1000 across the boundary, 5000 (capped) inside the second.
    assert meta_["active_ms"] == 7000
    assert meta_["duration_ms"] == 20_000


def test_person_id_comes_from_the_persons_tables(http: httpx.Client, project: Any) -> None:
    sid = _sid()
    identify = {
        "event": "$identify",
        "distinct_id": "user@example.com",
        "properties": {"$anon_distinct_id": "anon-42", "$set": {"plan": "pro"}},
    }
    assert http.post("/batch/", json={"api_key": project.token, "batch": [identify]}).is_success
    body = envelope(project.token, snapshot_event(None, sid, recording(), distinct_id="anon-42"))
    assert http.post("/s/", json=body).is_success

    def person() -> Any:
        return wait_replay(http, project, sid)["person_id"]

    person_id = wait_for(person, 30)
    expected = http.get("/api/persons/user@example.com", headers=admin(project)).json()["id"]
    assert person_id == expected
    listed = http.get(
        "/api/replays", params={"person_id": person_id}, headers=admin(project)
    ).json()
    assert [r["session_id"] for r in listed["results"]] == [sid]


def test_console_errors_count_only_console_error_level(http: httpx.Client, project: Any) -> None:
    sid = _sid()
    events = [meta(T0), full_snapshot(T0 + 1), console_error(T0 + 10), console_error(T0 + 20)]
    events.append({"type": 6, "data": {"plugin": "rrweb/network@1", "payload": {"level": "error"}},
                   "timestamp": T0 + 30})  # fmt: skip
    assert send(http, project, sid, events)
    assert wait_replay(http, project, sid)["console_error_count"] == 2
