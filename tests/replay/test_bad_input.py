"""Every endpoint refuses malformed, missing, oversized and unauthorized input with a problem body
that names the field, and never loses the valid snapshots sent alongside."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import httpx
import pytest

from tests.replay.factories import (
    admin,
    envelope,
    recording,
    send,
    snapshot_event,
    wait_replay,
)

PROBLEM = "application/problem+json"


def _problem(r: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert field in [e["field"] for e in body.get("errors") or []], body
    return body


def test_bad_events_are_named_and_the_good_ones_kept(http: httpx.Client, project: Any) -> None:
    good = str(uuid.uuid4())
    valid = snapshot_event(None, good, recording())
    no_session = snapshot_event(None, "x", recording())
    del no_session["properties"]["$session_id"]
    bad_data = snapshot_event(None, str(uuid.uuid4()), "not a list")
    empty = snapshot_event(None, str(uuid.uuid4()), [])
    not_snapshot = {"event": "$pageview", "distinct_id": "d", "properties": {}}
    no_distinct = snapshot_event(None, str(uuid.uuid4()), recording())
    del no_distinct["distinct_id"]
    bad_uuid = snapshot_event(None, str(uuid.uuid4()), recording(), uid="nope")
    bad_time = snapshot_event(None, str(uuid.uuid4()), recording())
    bad_time["timestamp"] = "yesterday"
    long_session = snapshot_event(None, "s" * 201, recording())
    bad_window = snapshot_event(None, str(uuid.uuid4()), recording())
    bad_window["properties"]["$window_id"] = 7
    batch = [valid, no_session, bad_data, empty, not_snapshot, no_distinct, bad_uuid, bad_time,
             long_session, bad_window, "not an object"]  # fmt: skip
    r = http.post("/s/", json=envelope(project.token, *batch))
    body = _problem(r, 400, "$session_id")
    assert body["accepted"] == 1
    assert body["rejected"] == list(range(1, 11))
    fields = {e["index"]: e["field"] for e in body["errors"]}
    assert fields == {
        1: "$session_id",
        2: "$snapshot_data",
        3: "$snapshot_data",
        4: "event",
        5: "distinct_id",
        6: "uuid",
        7: "timestamp",
        8: "$session_id",
        9: "$window_id",
        10: "event",
    }
    assert wait_replay(http, project, good)["click_count"] == 2


@pytest.mark.parametrize(
    ("content", "headers", "field"),
    [
        (b"", {}, "body"),
        (b"{not json", {}, "body"),
        (b"42", {}, "body"),
        (b'{"api_key": "x", "batch": []}', {}, "batch"),
        (b"\x1f\x8b\x08\x00garbage", {}, "body"),
        (b"data=%%%", {"Content-Type": "application/x-www-form-urlencoded"}, "data"),
        (b"{}", {"Content-Encoding": "br"}, "Content-Encoding"),
    ],
)
def test_malformed_bodies(
    http: httpx.Client, content: bytes, headers: dict[str, str], field: str
) -> None:
    _problem(http.post("/s/", content=content, headers=headers), 400, field)


def test_bad_compression_parameter(http: httpx.Client, project: Any) -> None:
    body = json.dumps(envelope(project.token, snapshot_event(None, "s", recording())))
    _problem(http.post("/s/?compression=lz4", content=body), 400, "compression")


def test_unauthorized(http: httpx.Client, project: Any) -> None:
    body = envelope(project.token, snapshot_event(None, str(uuid.uuid4()), recording()))
    del body["api_key"]
    _problem(http.post("/s/", json=body), 401, "api_key")
    body["api_key"] = "phc_unknown"
    _problem(http.post("/s/", json=body), 401, "api_key")
    # A project's secret key is not a capture token.
    body["api_key"] = project.secret_key
    _problem(http.post("/s/", json=body), 401, "api_key")


def test_oversized(http: httpx.Client, project: Any) -> None:
    sid = str(uuid.uuid4())
    huge = snapshot_event(None, str(uuid.uuid4()), [{"type": 5, "data": {"x": "a" * (9 << 20)},
                                                     "timestamp": 1}])  # fmt: skip
    # Alone, the event is refused whole (413); in a batch, by index, beside a valid one.
    alone = {**huge, "properties": {**huge["properties"], "token": project.token}}
    _problem(http.post("/s/", json=alone), 413, "size")
    ok = snapshot_event(None, sid, recording())
    r = http.post("/s/", json=envelope(project.token, ok, huge))
    assert _problem(r, 400, "size")["rejected"] == [1]
    wait_replay(http, project, sid)
    # More than 20 MB after decompression: refused before parsing.
    bomb = gzip.compress(b"[" + b" " * (21 << 20) + b"]")
    _problem(http.post("/s/?compression=gzip-js", content=bomb), 413, "body")


def test_reads_need_a_secret_key(http: httpx.Client, project: Any) -> None:
    sid = str(uuid.uuid4())
    assert send(http, project, sid, recording())
    wait_replay(http, project, sid)
    paths = [
        ("GET", "/api/replays"),
        ("GET", f"/api/replays/{sid}"),
        ("GET", f"/api/replays/{sid}/snapshots"),
        ("GET", f"/api/replays/{sid}/events"),
        ("DELETE", f"/api/replays/{sid}"),
        ("GET", "/api/replays/settings"),
        ("PUT", "/api/replays/settings"),
    ]
    for method, path in paths:
        _problem(http.request(method, path), 401, "Authorization")
        bad = {"Authorization": "Bearer phs_nope"}
        _problem(http.request(method, path, headers=bad), 401, "Authorization")
        token = {"Authorization": f"Bearer {project.token}"}
        _problem(http.request(method, path, headers=token), 401, "Authorization")
        # A forged session cookie is no better.
        cookie = {"Cookie": f"devflow_replays_session={project.id}.9999999999.{'0' * 64}"}
        _problem(http.request(method, path, headers=cookie), 401, "Authorization")
    # Still there: nothing above deleted it.
    assert http.get(f"/api/replays/{sid}", headers=admin(project)).status_code == 200


def test_another_projects_recording_does_not_exist(
    http: httpx.Client, project: Any, stack: Any
) -> None:
    sid = str(uuid.uuid4())
    assert send(http, project, sid, recording())
    wait_replay(http, project, sid)
    other = stack.project("other")
    for method, suffix in [("GET", ""), ("GET", "/snapshots"), ("GET", "/events"), ("DELETE", "")]:
        r = http.request(method, f"/api/replays/{sid}{suffix}", headers=admin(other))
        _problem(r, 404, "session_id")
    listed = http.get("/api/replays", headers=admin(other)).json()
    assert listed == {"results": [], "next": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"date_from": "last week"}, "date_from"),
        ({"date_to": "2026-13-01"}, "date_to"),
        ({"min_duration_ms": "-1"}, "min_duration_ms"),
        ({"min_duration_ms": "long"}, "min_duration_ms"),
        ({"person_id": "someone"}, "person_id"),
        ({"has_console_errors": "maybe"}, "has_console_errors"),
        ({"distinct_id": "a\x00b"}, "distinct_id"),
        ({"url_contains": "x" * 1001}, "url_contains"),
    ],
)
def test_bad_list_queries(
    http: httpx.Client, project: Any, params: dict[str, str], field: str
) -> None:
    _problem(http.get("/api/replays", params=params, headers=admin(project)), 400, field)


def test_bad_session_reads(http: httpx.Client, project: Any) -> None:
    _problem(http.get("/api/replays/nope", headers=admin(project)), 404, "session_id")
    long_id = "s" * 201
    _problem(http.get(f"/api/replays/{long_id}", headers=admin(project)), 400, "session_id")
    sid = str(uuid.uuid4())
    assert send(http, project, sid, recording())
    wait_replay(http, project, sid)
    for limit in ("0", "5001", "x"):
        r = http.get(f"/api/replays/{sid}/events", params={"limit": limit}, headers=admin(project))
        _problem(r, 400, "limit")


@pytest.mark.parametrize(
    ("content", "status", "field"),
    [
        (b"", 400, "body"),
        (b"{", 400, "body"),
        (b"[]", 400, "body"),
        (b"{}", 400, "retention_days"),
        (b'{"retention_days": "30"}', 400, "retention_days"),
        (b'{"retention_days": 0}', 400, "retention_days"),
        (b'{"retention_days": 3651}', 400, "retention_days"),
        (b'{"retention_days": 30, "extra": 1}', 400, "extra"),
        (b'{"retention_days": 30}' + b" " * 5000, 413, "body"),
    ],
)
def test_bad_settings(
    http: httpx.Client, project: Any, content: bytes, status: int, field: str
) -> None:
    r = http.put("/api/replays/settings", content=content, headers=admin(project))
    _problem(r, status, field)
    assert http.get("/api/replays/settings", headers=admin(project)).json() == {
        "retention_days": 30
    }
