"""Realistic rrweb recordings, built by hand, and helpers to send and read them back."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from tests.support import wait_for

# Two hours ago, whole seconds: recent enough for the retention job to leave it alone.
T0 = (int(time.time()) - 7200) * 1000


def iso(ms: int) -> str:
    """How the API writes the time ``ms`` (epoch milliseconds)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace(".000", "").replace("+00:00", "Z")


def meta(ts: int, href: str = "https://shop.example/") -> dict[str, Any]:
    return {"type": 4, "data": {"href": href, "width": 1280, "height": 800}, "timestamp": ts}


def full_snapshot(ts: int, heading: str = "Welcome to the shop") -> dict[str, Any]:
    """A small but complete DOM: html > head > style, body > h1, input, button."""
    text = {"type": 3, "textContent": heading, "id": 7}
    style = {"type": 3, "textContent": "h1 { color: rgb(200, 0, 0); }", "isStyle": True, "id": 5}
    node = {
        "type": 0,
        "childNodes": [
            {"type": 1, "name": "html", "publicId": "", "systemId": "", "id": 2},
            {
                "type": 2,
                "tagName": "html",
                "attributes": {},
                "childNodes": [
                    {
                        "type": 2,
                        "tagName": "head",
                        "attributes": {},
                        "childNodes": [
                            {"type": 2, "tagName": "style", "attributes": {}, "childNodes": [style],
                             "id": 4},
                        ],
                        "id": 3,
                    },
                    {
                        "type": 2,
                        "tagName": "body",
                        "attributes": {},
                        "childNodes": [
                            {"type": 2, "tagName": "h1", "attributes": {"id": "title"},
                             "childNodes": [text], "id": 8},
                            {"type": 2, "tagName": "input",
                             "attributes": {"id": "q", "type": "text"}, "childNodes": [], "id": 9},
                            {"type": 2, "tagName": "button", "attributes": {},
                             "childNodes": [{"type": 3, "textContent": "Buy", "id": 11}], "id": 10},
                        ],
                        "id": 6,
                    },
                ],
                "id": 1,
            },
        ],
        "id": 0,
    }  # fmt: skip
    return {"type": 2, "data": {"node": node, "initialOffset": {"left": 0, "top": 0}},
            "timestamp": ts}  # fmt: skip


def mouse_move(ts: int, x: int = 100, y: int = 100) -> dict[str, Any]:
    positions = [{"x": x + i, "y": y + i, "id": 6, "timeOffset": -50 * (3 - i)} for i in range(3)]
    return {"type": 3, "data": {"source": 1, "positions": positions}, "timestamp": ts}


def click(ts: int, node: int = 10) -> dict[str, Any]:
    return {"type": 3, "data": {"source": 2, "type": 2, "id": node, "x": 20, "y": 60},
            "timestamp": ts}  # fmt: skip


def mouse_down(ts: int, node: int = 10) -> dict[str, Any]:
    return {"type": 3, "data": {"source": 2, "type": 1, "id": node, "x": 20, "y": 60},
            "timestamp": ts}  # fmt: skip


def text_input(ts: int, text: str, node: int = 9) -> dict[str, Any]:
    return {"type": 3, "data": {"source": 5, "text": text, "isChecked": False, "id": node},
            "timestamp": ts}  # fmt: skip


def mutation(ts: int, text: str) -> dict[str, Any]:
    return {"type": 3, "data": {"source": 0, "texts": [{"id": 7, "value": text}], "attributes": [],
            "removes": [], "adds": []}, "timestamp": ts}  # fmt: skip


def console_error(ts: int, message: str = "TypeError: x is undefined") -> dict[str, Any]:
    return {
        "type": 6,
        "data": {
            "plugin": "rrweb/console@1",
            "payload": {
                "level": "error",
                "trace": ["at app.js:1:1"],
                "payload": [json.dumps(message)],
            },
        },
        "timestamp": ts,
    }


def console_log(ts: int) -> dict[str, Any]:
    payload = {"level": "log", "trace": [], "payload": ['"hello"']}
    return {"type": 6, "data": {"plugin": "rrweb/console@1", "payload": payload}, "timestamp": ts}


def recording(t0: int = T0, href: str = "https://shop.example/") -> list[dict[str, Any]]:
    """10 s of a visit: meta, full snapshot, moves, typing "hat" (3 keys), 2 clicks, 1 error."""
    return [
        meta(t0, href),
        full_snapshot(t0 + 1),
        mouse_move(t0 + 1000),
        mouse_move(t0 + 2000, 140, 120),
        text_input(t0 + 3000, "h"),
        text_input(t0 + 3200, "ha"),
        text_input(t0 + 3400, "hat"),
        mutation(t0 + 3500, "Results for hat"),
        mouse_down(t0 + 4000),
        click(t0 + 4050),
        console_error(t0 + 5000),
        console_log(t0 + 5100),
        click(t0 + 10_000),
    ]


def snapshot_event(
    token: str | None,
    session_id: str,
    events: Any,
    *,
    distinct_id: str = "visitor-1",
    window_id: str = "window-1",
    uid: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "$snapshot_data": events,
        "$session_id": session_id,
        "$window_id": window_id,
        "$snapshot_bytes": len(json.dumps(events)),
        "$lib": "devflow-js",
        **(extra or {}),
    }
    if token is not None:
        props["token"] = token
    return {
        "event": "$snapshot",
        "distinct_id": distinct_id,
        "uuid": uid or str(uuid.uuid4()),
        "timestamp": iso(T0),
        "properties": props,
    }


def envelope(token: str, *events: dict[str, Any]) -> dict[str, Any]:
    return {"api_key": token, "batch": list(events)}


def gzip_js(body: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(body).encode())


def legacy_pieces(events: list[dict[str, Any]], pieces: int, utf16: bool = True) -> list[Any]:
    """Old posthog-js's chunked ``$snapshot_data``: base64 of gzip of (UTF-16) JSON, split."""
    text = json.dumps(events)
    raw = text.encode("utf-16") if utf16 else text.encode()
    blob = base64.b64encode(gzip.compress(raw)).decode()
    size = -(-len(blob) // pieces)
    chunk_id = str(uuid.uuid4())
    return [
        {
            "chunk_id": chunk_id,
            "chunk_index": i,
            "chunk_count": pieces,
            "data": blob[i * size : (i + 1) * size],
            "compression": "gzip-base64",
            "has_full_snapshot": True,
        }
        for i in range(pieces)
    ]


def send(http: httpx.Client, project: Any, session_id: str, events: Any, **kw: Any) -> bool:
    """POST one $snapshot event to /s; True when it was acknowledged."""
    body = envelope(project.token, snapshot_event(None, session_id, events, **kw))
    return http.post("/s/", json=body).status_code == 200


def admin(project: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {project.secret_key}"}


def wait_replay(http: httpx.Client, project: Any, session_id: str, **expect: Any) -> dict[str, Any]:
    """The session's metadata once it exists and has the expected values."""

    def ready() -> dict[str, Any] | None:
        r = http.get(f"/api/replays/{session_id}", headers=admin(project))
        if r.status_code != 200:
            return None
        body = r.json()
        return body if all(body[k] == v for k, v in expect.items()) else None

    found: dict[str, Any] = wait_for(ready, 30)
    return found


def events_of(http: httpx.Client, project: Any, session_id: str) -> list[dict[str, Any]]:
    r = http.get(f"/api/replays/{session_id}/snapshots", headers=admin(project))
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def count(database_url: str, sql: str, *params: Any) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, params).fetchone()
        return int(row[0]) if row else 0
