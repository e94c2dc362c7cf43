"""Every way a PostHog client sends events is accepted, stored, and read back with the right fields.

Storage is asynchronous (capture publishes to JetStream, the writer stores), so each test polls the
read API until the events it sent are there.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tests.support import Server, all_events, count_rows, wait_for

if TYPE_CHECKING:
    import httpx

PATHS = ["/capture", "/batch", "/e", "/i/v0/e", "/track"]
ALL_PATHS = [*PATHS, *(p + "/" for p in PATHS)]
# Server and tests share a clock; this only absorbs scheduling delays.
SLACK = timedelta(seconds=5)


def _stored(server: Server, project: Any, n: int, **params: Any) -> list[dict[str, Any]]:
    """Wait until the project has ``n`` events (matching ``params``) and return them."""
    events = wait_for(
        lambda: (e := all_events(server.url, project.secret_key, **params)) and len(e) >= n and e
    )
    assert len(events) == n, events
    return events  # type: ignore[no-any-return]


def _ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


def _accepted(res: httpx.Response) -> None:
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/json")
    assert res.json() == {"status": 1}


@pytest.mark.parametrize("path", ALL_PATHS)
def test_every_capture_path_accepts_an_event(
    path: str, server: Server, project: Any, http: httpx.Client
) -> None:
    event_id = str(uuid.uuid4())
    ts = "2024-03-04T05:06:07.891000+00:00"
    res = http.post(
        path,
        json={
            "api_key": project.token,
            "event": f"hit {path}",
            "distinct_id": "user-1",
            "uuid": event_id,
            "timestamp": ts,
            "properties": {"nested": {"list": [1, "two", None, True]}, "n": 1.5},
        },
    )
    _accepted(res)
    [event] = _stored(server, project, 1)
    assert set(event) == {"uuid", "event", "distinct_id", "person_id", "timestamp", "properties"}
    assert event["uuid"] == event_id
    assert event["event"] == f"hit {path}"
    assert event["distinct_id"] == "user-1"
    assert _ts(event) == datetime.fromisoformat(ts)
    assert event["properties"] == {
        "nested": {"list": [1, "two", None, True]},
        "n": 1.5,
        "$ip": "127.0.0.1",
    }
    assert uuid.UUID(event["person_id"])


@pytest.mark.parametrize(
    ("carrier", "query"),
    [
        pytest.param({"api_key": "{t}"}, {}, id="api_key"),
        pytest.param({"token": "{t}"}, {}, id="token"),
        pytest.param({"$token": "{t}"}, {}, id="$token"),
        pytest.param({"properties": {"token": "{t}"}}, {}, id="properties.token"),
        pytest.param({"properties": {"$token": "{t}"}}, {}, id="properties.$token"),
        pytest.param({}, {"token": "{t}"}, id="query-token"),
        pytest.param({}, {"api_key": "{t}"}, id="query-api_key"),
    ],
)
def test_the_token_may_come_in_any_field(
    carrier: dict[str, Any], query: dict[str, str], server: Server, project: Any, http: httpx.Client
) -> None:
    fill = json.loads(json.dumps(carrier).replace("{t}", project.token))
    params = {k: v.replace("{t}", project.token) for k, v in query.items()}
    body = {"event": "tok", "distinct_id": "d", **fill}
    _accepted(http.post("/capture", json=body, params=params))
    [event] = _stored(server, project, 1)
    assert event["event"] == "tok"
    # The token is a credential of the request, not a property of the event.
    assert "token" not in event["properties"]
    assert "$token" not in event["properties"]


def test_distinct_id_may_be_in_properties(server: Server, project: Any, http: httpx.Client) -> None:
    body = {"api_key": project.token, "event": "p", "properties": {"distinct_id": "in-props"}}
    _accepted(http.post("/e", json=body))
    [event] = _stored(server, project, 1)
    assert event["distinct_id"] == "in-props"


def test_numeric_distinct_id_is_stored_as_text(
    server: Server, project: Any, http: httpx.Client
) -> None:
    _accepted(http.post("/e", json={"api_key": project.token, "event": "n", "distinct_id": 12345}))
    [event] = _stored(server, project, 1)
    assert event["distinct_id"] == "12345"


def test_batch_object(server: Server, project: Any, http: httpx.Client) -> None:
    batch = [
        {"event": f"b{i}", "distinct_id": f"u{i % 2}", "properties": {"i": i}} for i in range(5)
    ]
    _accepted(http.post("/batch", json={"api_key": project.token, "batch": batch}))
    events = _stored(server, project, 5)
    assert sorted(e["properties"]["i"] for e in events) == list(range(5))
    assert {e["distinct_id"] for e in events} == {"u0", "u1"}


def test_bare_list_of_events(server: Server, project: Any, http: httpx.Client) -> None:
    batch = [
        {"event": "l0", "distinct_id": "d", "api_key": project.token},
        {"event": "l1", "distinct_id": "d", "properties": {"token": project.token}},
        {"event": "l2", "distinct_id": "d"},  # the request's token covers it
    ]
    _accepted(http.post("/batch", json=batch))
    assert sorted(e["event"] for e in _stored(server, project, 3)) == ["l0", "l1", "l2"]


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        pytest.param({"Content-Encoding": "gzip"}, {}, id="content-encoding"),
        pytest.param({}, {"compression": "gzip-js"}, id="query-gzip-js"),
        pytest.param({"Content-Type": "text/plain"}, {}, id="magic-bytes"),
    ],
)
def test_gzip_bodies(
    headers: dict[str, str],
    params: dict[str, str],
    server: Server,
    project: Any,
    http: httpx.Client,
) -> None:
    batch = [
        {"event": "gz", "distinct_id": "d", "properties": {"i": i, "s": "é€"}} for i in range(3)
    ]
    body = gzip.compress(json.dumps({"api_key": project.token, "batch": batch}).encode())
    _accepted(http.post("/batch", content=body, headers=headers, params=params))
    events = _stored(server, project, 3)
    assert sorted(e["properties"]["i"] for e in events) == [0, 1, 2]
    assert {e["properties"]["s"] for e in events} == {"é€"}


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda b: base64.b64encode(b).decode(), id="base64"),
        pytest.param(lambda b: base64.b64encode(gzip.compress(b)).decode(), id="base64-gzip"),
        pytest.param(lambda b: b.decode(), id="plain-json"),
    ],
)
def test_legacy_form_encoded_data(
    encode: Any, server: Server, project: Any, http: httpx.Client
) -> None:
    # posthog-js's old transport: data=<base64 JSON> in a form post, non-ASCII text included.
    payload = json.dumps(
        [{"event": "form ✓", "properties": {"distinct_id": "f", "token": project.token, "x": "ü"}}],
        ensure_ascii=False,
    ).encode()
    res = http.post(
        "/e/",
        content=f"data={quote(encode(payload))}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        params={"compression": "base64", "ver": "1.0"},
    )
    _accepted(res)
    [event] = _stored(server, project, 1)
    assert event["event"] == "form ✓"
    assert event["distinct_id"] == "f"
    assert event["properties"] == {"distinct_id": "f", "x": "ü", "$ip": "127.0.0.1"}


def test_clock_skew_is_corrected_from_sent_at(
    server: Server, project: Any, http: httpx.Client
) -> None:
    # The device's clock is 3 days fast; its two events happened 10 s and 60 s before sending.
    client_now = datetime.now(UTC) + timedelta(days=3)
    batch = [
        {
            "event": "skew",
            "distinct_id": "d",
            "properties": {"ago": s},
            "timestamp": (client_now - timedelta(seconds=s)).isoformat(),
        }
        for s in (10, 60)
    ]
    before = datetime.now(UTC)
    body = {"api_key": project.token, "sent_at": client_now.isoformat(), "batch": batch}
    _accepted(http.post("/batch", json=body))
    after = datetime.now(UTC)
    for event in _stored(server, project, 2):
        ago = timedelta(seconds=event["properties"]["ago"])
        assert before - ago - SLACK <= _ts(event) <= after - ago + SLACK


def test_clock_skew_is_corrected_from_the_query_in_ms(
    server: Server, project: Any, http: httpx.Client
) -> None:
    client_now = datetime.now(UTC) - timedelta(hours=7)  # the device's clock is 7 hours slow
    ts = (client_now - timedelta(minutes=2)).isoformat()
    before = datetime.now(UTC)
    res = http.post(
        "/e/",
        json={"api_key": project.token, "event": "q", "distinct_id": "d", "timestamp": ts},
        params={"_": str(int(client_now.timestamp() * 1000)), "ver": "1.2.3"},
    )
    _accepted(res)
    after = datetime.now(UTC)
    [event] = _stored(server, project, 1)
    two_minutes = timedelta(minutes=2)
    assert before - two_minutes - SLACK <= _ts(event) <= after - two_minutes + SLACK


def test_offset_is_counted_back_from_arrival(
    server: Server, project: Any, http: httpx.Client
) -> None:
    before = datetime.now(UTC)
    body = {"api_key": project.token, "event": "o", "distinct_id": "d", "offset": 90_000}
    _accepted(http.post("/capture", json=body))
    after = datetime.now(UTC)
    [event] = _stored(server, project, 1)
    offset = timedelta(seconds=90)
    assert before - offset - SLACK <= _ts(event) <= after - offset + SLACK


def test_far_future_timestamps_are_clamped_to_now_near_future_kept(
    server: Server, project: Any, http: httpx.Client
) -> None:
    before = datetime.now(UTC)
    near = (before + timedelta(hours=20)).replace(microsecond=0)
    batch = [
        {"event": "far", "distinct_id": "d", "timestamp": (before + timedelta(days=2)).isoformat()},
        {"event": "farther", "distinct_id": "d", "timestamp": "2999-01-01T00:00:00Z"},
        {"event": "near", "distinct_id": "d", "timestamp": near.isoformat()},
    ]
    _accepted(http.post("/batch", json={"api_key": project.token, "batch": batch}))
    after = datetime.now(UTC)
    events = {e["event"]: e for e in _stored(server, project, 3)}
    for name in ("far", "farther"):
        assert before - SLACK <= _ts(events[name]) <= after + SLACK
    assert _ts(events["near"]) == near


def test_missing_timestamp_means_arrival_time(
    server: Server, project: Any, http: httpx.Client
) -> None:
    before = datetime.now(UTC)
    _accepted(
        http.post("/i/v0/e/", json={"api_key": project.token, "event": "now", "distinct_id": "d"})
    )
    after = datetime.now(UTC)
    [event] = _stored(server, project, 1)
    assert before - SLACK <= _ts(event) <= after + SLACK


def test_timestamps_in_other_zones_and_epoch_ms(
    server: Server, project: Any, http: httpx.Client
) -> None:
    # 23:30 at UTC-5, a year ago, is the next day in UTC: the row must land in that day's partition.
    local = datetime.now(UTC).date() - timedelta(days=365)
    batch = [
        {"event": "zoned", "distinct_id": "d", "timestamp": f"{local}T23:30:00-05:00"},
        {"event": "epoch", "distinct_id": "d", "timestamp": 1_700_000_000_123},
        {"event": "naive", "distinct_id": "d", "timestamp": "2023-01-02T03:04:05"},
    ]
    _accepted(http.post("/batch", json={"api_key": project.token, "batch": batch}))
    events = {e["event"]: e for e in _stored(server, project, 3)}
    assert _ts(events["zoned"]) == datetime.fromisoformat(f"{local}T23:30:00-05:00")
    assert _ts(events["zoned"]).astimezone(UTC).date() == local + timedelta(days=1)
    assert _ts(events["epoch"]) == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert _ts(events["naive"]) == datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_uuid_is_assigned_when_absent_and_kept_when_given(
    server: Server, project: Any, http: httpx.Client
) -> None:
    given = str(uuid.uuid4())
    batch = [
        {"event": "given", "distinct_id": "d", "uuid": given.upper()},
        {"event": "assigned", "distinct_id": "d"},
        {"event": "assigned", "distinct_id": "d"},
    ]
    _accepted(http.post("/batch", json={"api_key": project.token, "batch": batch}))
    events = _stored(server, project, 3)
    by_name: dict[str, list[str]] = {}
    for e in events:
        by_name.setdefault(e["event"], []).append(e["uuid"])
    assert by_name["given"] == [given]
    assigned = [uuid.UUID(u) for u in by_name["assigned"]]
    assert len(set(assigned)) == 2
    assert all(u.version == 7 for u in assigned)


def test_beacon_requests_get_204(server: Server, project: Any, http: httpx.Client) -> None:
    body = {"api_key": project.token, "event": "unload", "distinct_id": "d"}
    res = http.post("/e/", json=body, params={"beacon": "1"})
    assert res.status_code == 204, res.text
    assert res.content == b""
    [event] = _stored(server, project, 1)
    assert event["event"] == "unload"


def test_a_retried_request_is_stored_once(
    server: Server, project: Any, http: httpx.Client, stack: Any
) -> None:
    body = {
        "api_key": project.token,
        "event": "r",
        "distinct_id": "d",
        "uuid": str(uuid.uuid4()),
        "timestamp": "2024-01-01T00:00:00Z",
    }
    for _ in range(3):
        _accepted(http.post("/capture", json=body))
    marker = {"api_key": project.token, "event": "marker", "distinct_id": "d"}
    _accepted(http.post("/capture", json=marker))
    _stored(server, project, 1, event="marker")
    assert count_rows(stack.database_url, project.id) == 2


def test_set_at_the_top_level_reaches_the_person(
    server: Server, project: Any, http: httpx.Client
) -> None:
    body = {
        "api_key": project.token,
        "event": "$identify",
        "distinct_id": "top-set",
        "$set": {"plan": "pro"},
        "$set_once": {"first": "yes"},
    }
    _accepted(http.post("/capture", json=body))
    [event] = _stored(server, project, 1)
    assert event["properties"]["$set"] == {"plan": "pro"}
    res = http.get(
        "/api/persons/top-set", headers={"Authorization": f"Bearer {project.secret_key}"}
    )
    assert res.status_code == 200, res.text
    assert res.json()["properties"] == {"plan": "pro", "first": "yes"}


def test_ip_is_recorded_unless_given_or_refused(
    server: Server, project: Any, http: httpx.Client
) -> None:
    def send(event: str, params: dict[str, str], headers: dict[str, str], **props: Any) -> None:
        body = {"api_key": project.token, "event": event, "distinct_id": "ip", "properties": props}
        res = http.post("/capture", json=body, params=params, headers=headers)
        assert res.status_code == 200, res.text

    send("direct", {}, {})
    send("proxied", {}, {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"})
    send("own", {}, {}, **{"$ip": "198.51.100.1"})
    send("refused", {"ip": "0"}, {})
    events = wait_for(
        lambda: (e := all_events(server.url, project.secret_key)) and len(e) == 4 and e
    )
    ips = {e["event"]: e["properties"].get("$ip") for e in events}
    assert ips == {
        "direct": "127.0.0.1",
        "proxied": "203.0.113.7",
        "own": "198.51.100.1",
        "refused": None,
    }
