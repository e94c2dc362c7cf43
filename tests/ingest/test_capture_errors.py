"""Bad capture requests get a 4xx problem naming the field, and never cost the valid events sent
alongside them. Nothing of a rejected event may be stored.

"Nothing stored" is checked after something that must be stored has arrived: either the valid
events of the same request (they travel in the same message) or a marker event sent afterwards.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from services.core.capture.limits import MAX_EVENT_BYTES, MAX_REQUEST_BYTES
from tests.support import Server, Stack, all_events, count_rows, wait_for

if TYPE_CHECKING:
    import httpx

PROBLEM_JSON = "application/problem+json"


def _problem(res: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    """Assert a problem+json response of ``status`` whose errors name exactly ``fields``."""
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = res.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    errors = body.get("errors") or []
    assert [e["field"] for e in errors] == list(fields), body
    assert all(e["reason"] for e in errors)
    return body


def _names(server: Server, project: Any) -> list[str]:
    return sorted(e["event"] for e in all_events(server.url, project.secret_key))


def _settle(http: httpx.Client, server: Server, project: Any) -> None:
    """Send a marker event and wait for it: whatever was accepted before it is stored by then."""
    marker = {"api_key": project.token, "event": "marker", "distinct_id": "marker"}
    assert http.post("/capture", json=marker).status_code == 200
    wait_for(lambda: all_events(server.url, project.secret_key, event="marker"))


def _assert_only_marker_stored(
    http: httpx.Client, server: Server, project: Any, stack: Stack
) -> None:
    _settle(http, server, project)
    assert count_rows(stack.database_url, project.id) == 1
    assert _names(server, project) == ["marker"]


# --- one bad event among good ones ----------------------------------------------------------------

BAD_EVENTS: dict[str, tuple[Any, str]] = {
    "event-not-a-string": ({"event": 42, "distinct_id": "d"}, "event"),
    "event-missing": ({"distinct_id": "d"}, "event"),
    "event-empty": ({"event": " ", "distinct_id": "d"}, "event"),
    "event-too-long": ({"event": "e" * 201, "distinct_id": "d"}, "event"),
    "event-with-nul": ({"event": "bad\u0000", "distinct_id": "d"}, "event"),
    "not-an-object": (["event", "d"], "event"),
    "properties-not-an-object": (
        {"event": "bad", "distinct_id": "d", "properties": [1]},
        "properties",
    ),
    "properties-a-string": ({"event": "bad", "distinct_id": "d", "properties": "{}"}, "properties"),
    "properties-with-nul": (
        {"event": "bad", "distinct_id": "d", "properties": {"k": {"n": ["\u0000"]}}},
        "properties",
    ),
    "bad-uuid": ({"event": "bad", "distinct_id": "d", "uuid": "1234-nope"}, "uuid"),
    "uuid-a-number": ({"event": "bad", "distinct_id": "d", "uuid": 7}, "uuid"),
    "bad-timestamp": ({"event": "bad", "distinct_id": "d", "timestamp": "31/12/2024"}, "timestamp"),
    "timestamp-a-bool": ({"event": "bad", "distinct_id": "d", "timestamp": False}, "timestamp"),
    "timestamp-out-of-range": (
        {"event": "bad", "distinct_id": "d", "timestamp": 10**17},
        "timestamp",
    ),
    "distinct-id-missing": ({"event": "bad"}, "distinct_id"),
    "distinct-id-null": ({"event": "bad", "distinct_id": None}, "distinct_id"),
    "distinct-id-empty": ({"event": "bad", "distinct_id": ""}, "distinct_id"),
    "distinct-id-blank": ({"event": "bad", "distinct_id": "  "}, "distinct_id"),
    "distinct-id-too-long": ({"event": "bad", "distinct_id": "x" * 201}, "distinct_id"),
    "distinct-id-bool": ({"event": "bad", "distinct_id": True}, "distinct_id"),
    "distinct-id-object": ({"event": "bad", "distinct_id": {"id": 1}}, "distinct_id"),
    "distinct-id-with-nul": ({"event": "bad", "distinct_id": "a\u0000b"}, "distinct_id"),
    "offset-not-a-number": ({"event": "bad", "distinct_id": "d", "offset": "5"}, "offset"),
    "offset-out-of-range": ({"event": "bad", "distinct_id": "d", "offset": 1e300}, "offset"),
    "set-not-an-object": ({"event": "bad", "distinct_id": "d", "$set": ["a"]}, "$set"),
    "set-once-not-an-object": ({"event": "bad", "distinct_id": "d", "$set_once": 1}, "$set_once"),
    "event-too-large": (
        {"event": "bad", "distinct_id": "d", "properties": {"blob": "x" * MAX_EVENT_BYTES}},
        "size",
    ),
}


@pytest.mark.parametrize(("bad", "field"), list(BAD_EVENTS.values()), ids=list(BAD_EVENTS))
def test_a_bad_event_is_named_and_its_neighbours_are_stored(
    bad: Any, field: str, server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    batch = [
        {"event": "valid-0", "distinct_id": "d", "uuid": str(uuid.uuid4())},
        bad,
        {"event": "valid-2", "distinct_id": "d"},
    ]
    res = http.post("/batch", json={"api_key": project.token, "batch": batch})
    body = _problem(res, 400, field)
    assert body["errors"][0]["index"] == 1
    assert body["accepted"] == 2
    assert body["rejected"] == [1]

    wait_for(lambda: len(all_events(server.url, project.secret_key)) >= 2)
    assert _names(server, project) == ["valid-0", "valid-2"]
    assert count_rows(stack.database_url, project.id) == 2


def test_several_bad_events_are_each_named_by_index(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    batch = [
        {"event": 1, "distinct_id": "d"},
        {"event": "ok-1", "distinct_id": "d"},
        {"event": "bad", "distinct_id": "d", "timestamp": "never"},
        {"event": "bad", "distinct_id": False},
        {"event": "ok-4", "distinct_id": "d"},
        "not an event",
    ]
    res = http.post("/e", json={"api_key": project.token, "batch": batch})
    body = _problem(res, 400, "event", "timestamp", "distinct_id", "event")
    assert [e["index"] for e in body["errors"]] == [0, 2, 3, 5]
    assert body["rejected"] == [0, 2, 3, 5]
    assert body["accepted"] == 2
    assert "2 event(s) accepted" in body["detail"]
    wait_for(lambda: len(all_events(server.url, project.secret_key)) >= 2)
    assert _names(server, project) == ["ok-1", "ok-4"]
    assert count_rows(stack.database_url, project.id) == 2


def test_a_bare_list_with_a_bad_event(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    batch = [
        {"event": "bad", "distinct_id": "d", "api_key": project.token, "uuid": "x"},
        {"event": "good", "distinct_id": "d", "api_key": project.token},
    ]
    body = _problem(http.post("/batch/", json=batch), 400, "uuid")
    assert (body["accepted"], body["rejected"]) == (1, [0])
    wait_for(lambda: all_events(server.url, project.secret_key))
    assert _names(server, project) == ["good"]
    assert count_rows(stack.database_url, project.id) == 1


def test_every_event_bad_stores_nothing(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    batch = [{"event": "", "distinct_id": "d"}, {"event": "x", "properties": 3, "distinct_id": "d"}]
    body = _problem(
        http.post("/batch", json={"api_key": project.token, "batch": batch}),
        400,
        "event",
        "properties",
    )
    assert (body["accepted"], body["rejected"]) == (0, [0, 1])
    _assert_only_marker_stored(http, server, project, stack)


def test_an_event_carrying_another_projects_token_is_rejected(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    other = stack.project("other")
    batch = [
        {"event": "mine", "distinct_id": "d"},
        {"event": "smuggled", "distinct_id": "d", "properties": {"token": other.token}},
    ]
    body = _problem(
        http.post("/batch", json={"api_key": project.token, "batch": batch}), 400, "api_key"
    )
    assert (body["accepted"], body["rejected"]) == (1, [1])
    wait_for(lambda: all_events(server.url, project.secret_key))
    assert _names(server, project) == ["mine"]
    _settle(http, server, other)
    assert _names(server, other) == ["marker"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"event": None}, "event", id="event-null"),
        pytest.param({"properties": "nope"}, "properties", id="properties-not-object"),
        pytest.param({"distinct_id": ""}, "distinct_id", id="distinct-id-empty"),
        pytest.param({"uuid": "zzz"}, "uuid", id="bad-uuid"),
        pytest.param({"timestamp": "2024-13-45"}, "timestamp", id="bad-timestamp"),
        pytest.param(
            {"timestamp": "9999-12-31T00:00:00Z", "sent_at": "0001-01-02T00:00:00Z"},
            "timestamp",
            id="skew-out-of-range",
        ),
        pytest.param({"offset": -1e300}, "offset", id="offset-out-of-range"),
        pytest.param({"event": "\u0000"}, "event", id="nul"),
    ],
)
def test_a_single_bad_event_is_a_400_naming_index_0(
    fields: dict[str, Any],
    field: str,
    server: Server,
    project: Any,
    http: httpx.Client,
    stack: Stack,
) -> None:
    event = {"api_key": project.token, "event": "single", "distinct_id": "d", **fields}
    body = _problem(http.post("/capture", json=event), 400, field)
    assert body["errors"][0]["index"] == 0
    assert (body["accepted"], body["rejected"]) == (0, [0])
    _assert_only_marker_stored(http, server, project, stack)


# --- requests that are refused as a whole ---------------------------------------------------------


def _gzip_truncated(data: bytes) -> bytes:
    packed = gzip.compress(data * 20)
    return packed[: len(packed) // 2]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}

BAD_BODIES: dict[str, tuple[Any, dict[str, str], dict[str, str], str]] = {
    # name: (body builder taking the valid JSON bytes, headers, query, field named)
    "malformed-json": (lambda ok: ok[:-3], {}, {}, "body"),
    "trailing-garbage": (lambda ok: ok + b" }", {}, {}, "body"),
    "empty-body": (lambda ok: b"", {}, {}, "body"),
    "json-string": (lambda ok: b'"an event"', {}, {}, "body"),
    "json-number": (lambda ok: b"17", {}, {}, "body"),
    "batch-not-a-list": (lambda ok: b'{"batch": {"event": "x"}}', {}, {}, "body"),
    "empty-batch": (lambda ok: b'{"api_key": "x", "batch": []}', {}, {}, "batch"),
    "empty-list": (lambda ok: b"[]", {}, {}, "batch"),
    "unsupported-compression": (lambda ok: ok, {}, {"compression": "brotli"}, "compression"),
    "unsupported-content-encoding": (
        lambda ok: ok,
        {"Content-Encoding": "br"},
        {},
        "Content-Encoding",
    ),
    "truncated-gzip": (_gzip_truncated, {"Content-Encoding": "gzip"}, {}, "body"),
    "gzip-announced-not-sent": (lambda ok: ok, {"Content-Encoding": "gzip"}, {}, "body"),
    "gzip-js-announced-not-sent": (lambda ok: ok, {}, {"compression": "gzip-js"}, "body"),
    "corrupt-gzip": (lambda ok: b"\x1f\x8b\x08\x00garbage", {}, {}, "body"),
    "bad-base64-form": (lambda ok: b"data=%%%not*base64%%%", FORM, {}, "data"),
    "form-without-data": (lambda ok: b"foo=bar&baz=1", FORM, {}, "data"),
    "form-with-too-many-fields": (
        lambda ok: b"data=" + base64.b64encode(ok) + b"&x=1" * 100,
        FORM,
        {},
        "body",
    ),
    "bad-base64-body": (lambda ok: b"***", {}, {"compression": "base64"}, "body"),
    "base64-of-garbage": (
        lambda ok: b"data=" + quote(base64.b64encode(b"\xff\xfe{")).encode(),
        FORM,
        {},
        "body",
    ),
    "nested-too-deeply": (
        lambda ok: ok[:-1] + b', "properties": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        {},
        {},
        "body",
    ),
}


@pytest.mark.parametrize(
    ("build", "headers", "params", "field"), list(BAD_BODIES.values()), ids=list(BAD_BODIES)
)
def test_an_unreadable_body_is_a_400_naming_the_field(
    build: Any,
    headers: dict[str, str],
    params: dict[str, str],
    field: str,
    server: Server,
    project: Any,
    http: httpx.Client,
    stack: Stack,
) -> None:
    # Built from a valid event of this project, so that anything accepted would be stored here.
    ok = json.dumps({"api_key": project.token, "event": "rejected", "distinct_id": "d"}).encode()
    res = http.post("/capture", content=build(ok), headers=headers, params=params)
    body = _problem(res, 400, field)
    assert "accepted" not in body
    _assert_only_marker_stored(http, server, project, stack)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("phc_does_not_exist", id="unknown"),
        pytest.param("SECRET", id="secret-key-is-not-a-token"),
        pytest.param(123, id="not-a-string"),
    ],
)
def test_without_a_valid_token_nothing_is_accepted(
    token: Any, server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    if token == "SECRET":
        token = project.secret_key
    carrier = {} if token is None else {"api_key": token}
    batch = [{"event": "rejected", "distinct_id": "d"}, {"event": "rejected", "distinct_id": "e"}]
    body = _problem(http.post("/batch", json={**carrier, "batch": batch}), 401, "api_key")
    assert "accepted" not in body
    _assert_only_marker_stored(http, server, project, stack)


def test_an_unknown_token_in_the_query_is_refused(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    res = http.post(
        "/e/", json={"event": "rejected", "distinct_id": "d"}, params={"token": "phc_no"}
    )
    _problem(res, 401, "api_key")
    _assert_only_marker_stored(http, server, project, stack)


# --- size limits ----------------------------------------------------------------------------------


def test_a_single_event_over_1_mb_is_413(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    event = {
        "api_key": project.token,
        "event": "huge",
        "distinct_id": "d",
        "properties": {"blob": "x" * MAX_EVENT_BYTES},
    }
    _problem(http.post("/capture", json=event), 413, "size")
    _assert_only_marker_stored(http, server, project, stack)


def test_an_event_of_exactly_1_mb_is_accepted(
    server: Server, project: Any, http: httpx.Client
) -> None:
    event = {"api_key": project.token, "event": "big", "distinct_id": "d", "properties": {}}
    room = MAX_EVENT_BYTES - len(json.dumps(event | {"properties": {"blob": ""}}).encode())
    event["properties"] = {"blob": "x" * room}
    assert len(json.dumps(event).encode()) == MAX_EVENT_BYTES
    assert http.post("/capture", json=event).status_code == 200
    [stored] = wait_for(lambda: all_events(server.url, project.secret_key))
    assert len(stored["properties"]["blob"]) == room


def test_a_request_over_20_mb_after_decompression_is_413(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    # Many small valid events: the request as a whole is too large, so none is accepted.
    one = {"event": "rejected", "distinct_id": "d", "properties": {"pad": "p" * 1000}}
    n = MAX_REQUEST_BYTES // len(json.dumps(one)) + 100
    body = json.dumps({"api_key": project.token, "batch": [one] * n}).encode()
    assert len(body) > MAX_REQUEST_BYTES
    packed = gzip.compress(body)
    res = http.post("/batch", content=packed, headers={"Content-Encoding": "gzip"})
    _problem(res, 413, "body")
    _assert_only_marker_stored(http, server, project, stack)


def test_a_decompression_bomb_is_413(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    bomb = gzip.compress(b"\x00" * (30 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 64 * 1024
    res = http.post(
        "/batch", content=bomb, params={"compression": "gzip-js", "token": project.token}
    )
    _problem(res, 413, "body")
    _assert_only_marker_stored(http, server, project, stack)


def test_an_uncompressed_body_over_the_limit_is_413(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    res = http.post("/batch", content=b" " * (MAX_REQUEST_BYTES + 4096))
    assert res.status_code == 413, res.text
    assert res.headers["content-type"].startswith(PROBLEM_JSON)
    assert res.json()["status"] == 413
    _assert_only_marker_stored(http, server, project, stack)


def test_an_uncompressed_body_over_the_limit_names_the_body(http: httpx.Client) -> None:
    res = http.post("/batch", content=b" " * (MAX_REQUEST_BYTES + 4096))
    _problem(res, 413, "body")


def test_beacon_with_a_bad_event_still_reports_the_error(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    res = http.post(
        "/e/",
        json={"api_key": project.token, "event": 5, "distinct_id": "d"},
        params={"beacon": "1"},
    )
    _problem(res, 400, "event")
    _assert_only_marker_stored(http, server, project, stack)
