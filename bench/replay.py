"""Session replay benchmark: ingest throughput, compression, time to first frame.

The platform runs as one ``devflow run replay`` process (role ``all``: the API, the REPLAY
consumer, the retention and compaction jobs) on embedded PostgreSQL and NATS in a temporary
directory.
Recordings are generated here, deterministic and shaped like rrweb's output for a shop page: a
meta event and a full snapshot of a ~500-node page, then every 500 ms a batch of mouse positions,
hover class changes, a re-rendered recommendations strip, scrolls, clicks, typing, the cart
counter's mutations and console logs (see :func:`recording`).

Measured, each the median of ``--reps`` repetitions:

- **Ingest**: ``--sessions`` recordings of ``--minutes`` each, sent as posthog-js flushes them
  (one ``POST /s/?compression=gzip-js`` request per session every 5 s of recording, the
  sessions' flushes interleaved as live traffic is) over 8 keep-alive connections of the lean
  client in ``bench/_http.py``, from the first request until every chunk is committed (the
  consumer has nothing pending or unacked). Reported as MB/s of recording data (the rrweb JSON)
  and sessions/s.
- **Compression**: the rrweb JSON against the stored chunks' bytes, as stored by the consumer
  and once the compaction job has merged each quiet session into one chunk (run here 2 s after a
  session's last chunk instead of 60 s).
- **Time to first frame** of a 30-minute recording: ``GET /api/replays/{id}/snapshots`` until
  the first full snapshot is parsed out of the stream, and (unless ``--no-browser``) the player
  page in Chromium until its iframe shows the recorded page.

Targets (exit code 1 when one is missed): ingest >= 5 MB/s of recording data and >= 5 sessions/s
of 2-minute recordings, compression >= 10x, first full snapshot out of the API <= 0.5 s, first
frame in the browser <= 3 s.

Run with ``.venv/bin/python bench/replay.py [--sessions N] [--minutes M] [--reps R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _http  # noqa: E402 - needs the path set just above
from bench._platform import Platform  # noqa: E402

TARGET_MB_S = 5.0
TARGET_SESSIONS_S = 5.0
TARGET_RATIO = 10.0
TARGET_FIRST_SNAPSHOT_S = 0.5
TARGET_FIRST_FRAME_S = 3.0
FLUSH_MS = 5_000
CONNECTIONS = 8
WORDS = [
    "hat",
    "scarf",
    "boots",
    "jacket",
    "gloves",
    "socks",
    "shirt",
    "denim",
    "linen",
    "wool",
    "cotton",
    "summer",
    "winter",
    "sale",
]


# -- recordings ----------------------------------------------------------------------------------


def _el(nid: list[int], tag: str, attrs: dict[str, str], children: list[Any]) -> dict[str, Any]:
    nid[0] += 1
    return {"type": 2, "tagName": tag, "attributes": attrs, "childNodes": children, "id": nid[0]}


def _text(nid: list[int], text: str) -> dict[str, Any]:
    nid[0] += 1
    return {"type": 3, "textContent": text, "id": nid[0]}


def _page(rng: random.Random) -> tuple[dict[str, Any], int]:
    nid = [0]
    cards = []
    for i in range(60):
        name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{i}"
        cards.append(
            _el(nid, "li", {"class": "card product", "data-sku": f"sku-{i:04d}"}, [
                _el(nid, "img", {"src": f"/img/p{i}.jpg", "alt": name, "width": "240"}, []),
                _el(nid, "h3", {"class": "title"}, [_text(nid, name)]),
                _el(nid, "p", {"class": "price"}, [_text(nid, f"${rng.randint(5, 300)}.00")]),
                _el(nid, "button", {"class": "btn add", "type": "button"}, [_text(nid, "Add")]),
            ])
        )  # fmt: skip
    css = "body{font-family:sans-serif;margin:0}.card{display:inline-block;width:240px}" * 20
    head = _el(nid, "head", {}, [_el(nid, "style", {}, [_text(nid, css)])])
    body = _el(nid, "body", {"class": "shop"}, [
        _el(nid, "header", {"class": "top"}, [
            _el(nid, "h1", {}, [_text(nid, "The Shop")]),
            _el(nid, "input", {"id": "q", "type": "search"}, []),
        ]),
        _el(nid, "ul", {"class": "grid"}, cards),
        _el(nid, "span", {"id": "cart"}, [_text(nid, "0")]),
    ])  # fmt: skip
    html = _el(nid, "html", {"lang": "en"}, [head, body])
    doc = {"type": 0, "childNodes": [{"type": 1, "name": "html", "publicId": "", "systemId": "",
                                      "id": 10_000}, html], "id": 10_001}  # fmt: skip
    return doc, nid[0]


def _ev(kind: int, data: dict[str, Any], ts: int) -> dict[str, Any]:
    return {"type": kind, "data": data, "timestamp": ts}


def _mutation(ts: int, **parts: list[Any]) -> dict[str, Any]:
    data = {"source": 0, "texts": [], "attributes": [], "removes": [], "adds": []}
    return _ev(3, {**data, **parts}, ts)


def recording(seed: int, minutes: float, t0: int) -> list[dict[str, Any]]:
    """A visit of ``minutes`` as rrweb records one: the cursor glides from product to product
    (positions sampled every 50 ms, sent every 500 ms, over the node under it), cards change
    class on hover, a recommendations strip re-renders every few seconds, the visitor scrolls,
    types in the search box, adds to the cart and now and then the console logs; some seconds
    are idle (reading)."""
    rng = random.Random(seed)
    doc, last_id = _page(rng)
    cards = list(range(8, last_id - 20, 8))  # ids of product cards, roughly
    events: list[dict[str, Any]] = [
        _ev(4, {"href": "https://shop.example/", "width": 1280, "height": 800}, t0),
        _ev(2, {"node": doc, "initialOffset": {"left": 0, "top": 0}}, t0 + 5),
    ]
    x, y, scroll, cart, typed, next_id = 400, 300, 0, 0, "", last_id + 1
    target, card = (x, y), cards[0]
    end = t0 + int(minutes * 60_000)
    t = t0 + 500
    while t < end:
        if rng.random() < 0.2:  # reading: nothing but the recommendations strip
            t += 500
        else:
            if (x, y) == target:
                target = (rng.randrange(40, 1240, 40), rng.randrange(40, 760, 20))
                old, card = card, rng.choice(cards)
                events.append(_mutation(t, attributes=[
                    {"id": old, "attributes": {"class": "card product"}},
                    {"id": card, "attributes": {"class": "card product hover"}},
                ]))  # fmt: skip
            positions = []
            for k in range(10):
                x += max(-20, min(20, target[0] - x))
                y += max(-20, min(20, target[1] - y))
                positions.append({"x": x, "y": y, "id": card, "timeOffset": -450 + 50 * k})
            events.append(_ev(3, {"source": 1, "positions": positions}, t))
            roll = rng.random()
            if roll < 0.12:
                scroll += 120
                events.append(_ev(3, {"source": 3, "id": 10_001, "x": 0, "y": scroll}, t + 100))
            elif roll < 0.2:
                for kind in (1, 0, 2):  # mouse down, up, click
                    data = {"source": 2, "type": kind, "id": card + 6, "x": x, "y": y}
                    events.append(_ev(3, data, t + 120 + kind))
                cart += 1
                events.append(_mutation(t + 200, texts=[{"id": last_id, "value": str(cart)}]))
            elif roll < 0.28:
                typed = (typed + rng.choice("aehilnorst"))[-12:]
                data = {"source": 5, "text": typed, "isChecked": False, "id": 7}
                events.append(_ev(3, data, t + 150))
            if rng.random() < 0.02:
                level = "error" if rng.random() < 0.3 else "log"
                payload = {"level": level, "trace": ["at app.js:120:7"],
                           "payload": [json.dumps(f"cart updated {cart}")]}  # fmt: skip
                events.append(_ev(6, {"plugin": "rrweb/console@1", "payload": payload}, t + 300))
            t += 500
        if (t // 500) % 8 == 0:  # the recommendations strip re-renders every 4 s
            removes = [{"parentId": 60, "id": next_id - 4 + i} for i in range(4)]
            adds = []
            for i in range(4):
                name = f"{WORDS[(t // 4000 + i) % len(WORDS)].title()} pick"
                adds.append({"parentId": 60, "nextId": None, "node": {
                    "type": 2, "tagName": "li", "attributes": {"class": "rec card"},
                    "childNodes": [{"type": 3, "textContent": name, "id": next_id + 1}],
                    "id": next_id}})  # fmt: skip
                next_id += 2
            events.append(_mutation(t, removes=removes, adds=adds))
    return events


def requests_for(
    token: str, session_id: str, events: list[dict[str, Any]]
) -> tuple[list[bytes], int]:
    """gzip-js bodies, one per 5 s of recording, and the rrweb JSON bytes they carry."""
    bodies, raw = [], 0
    start = events[0]["timestamp"]
    groups: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        groups.setdefault((event["timestamp"] - start) // FLUSH_MS, []).append(event)
    for _, group in sorted(groups.items()):
        data = json.dumps(group, separators=(",", ":"))
        raw += len(data)
        event = {
            "event": "$snapshot",
            "distinct_id": f"visitor-{session_id[:8]}",
            "uuid": str(uuid.uuid4()),
            "properties": {"$snapshot_data": group, "$session_id": session_id,
                           "$window_id": "w1", "$snapshot_bytes": len(data)},
        }  # fmt: skip
        body = json.dumps({"api_key": token, "batch": [event]}, separators=(",", ":"))
        bodies.append(gzip.compress(body.encode(), 6))
    return bodies, raw


# -- measurements --------------------------------------------------------------------------------


async def _drained(nats_url: str) -> bool:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info("REPLAY", "replay-recorder")
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)
    finally:
        await nc.close()


def _wait_drained(plat: Platform, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if asyncio.run(_drained(plat.nats_url)):
            return True
        time.sleep(0.05)
    return False


def ingest(plat: Platform, sessions: int, minutes: float, seed: int) -> dict[str, float]:
    t0 = int(time.time() * 1000) - int(minutes * 60_000) - 60_000
    work: list[tuple[str, list[bytes]]] = []
    raw_total = 0
    for i in range(sessions):
        sid = str(uuid.uuid4())
        bodies, raw = requests_for(plat.token, sid, recording(seed * 1000 + i, minutes, t0))
        work.append((sid, bodies))
        raw_total += raw
    # As live traffic arrives: every session's next flush in turn, not one session after another.
    host = f"127.0.0.1:{plat.port}"
    rounds = max(len(bodies) for _, bodies in work)
    requests = [
        _http.build_request(host, "/s/?compression=gzip-js", bodies[k])
        for k in range(rounds)
        for _, bodies in work
        if k < len(bodies)
    ]
    result = asyncio.run(
        _http.drive("127.0.0.1", plat.port, requests, concurrency=CONNECTIONS, time_limit_s=120)
    )
    if result.failed or result.ok != len(requests):
        raise RuntimeError(f"{result.failed} requests failed: {dict(result.statuses)}")
    if not _wait_drained(plat, 300):
        raise RuntimeError("the consumer did not drain")
    sent_s = result.elapsed_s
    elapsed = time.perf_counter() - result.started
    with psycopg.connect(plat.database_url) as conn:
        row = conn.execute(
            "SELECT sum(raw_bytes), sum(size_bytes), count(*) FROM replay_sessions "
            "WHERE session_id = ANY(%s)",
            ([sid for sid, _ in work],),
        ).fetchone()
    stored_raw, stored, found = (int(v or 0) for v in row or (0, 0, 0))
    # Snapshots merged into one chunk share one pair of brackets: a byte less each.
    if found != sessions or abs(stored_raw - raw_total) > raw_total / 1000:
        raise RuntimeError(f"stored {found} sessions, {stored_raw} of {raw_total} raw bytes")
    compacted = _wait_compacted(plat, [sid for sid, _ in work])
    return {
        "mb_s": raw_total / elapsed / 1e6,
        "sessions_s": sessions / elapsed,
        "fresh_ratio": stored_raw / stored,
        "ratio": stored_raw / compacted,
        "raw_mb": raw_total / 1e6,
        "accept_s": sent_s,
        "elapsed_s": elapsed,
    }


def _wait_compacted(plat: Platform, ids: list[str], timeout_s: float = 120) -> int:
    """Stored bytes once the compaction job has merged every session into one chunk."""
    deadline = time.monotonic() + timeout_s
    while True:
        with psycopg.connect(plat.database_url) as conn:
            row = conn.execute(
                "SELECT max(chunk_count), sum(size_bytes) FROM replay_sessions "
                "WHERE session_id = ANY(%s)",
                (ids,),
            ).fetchone()
        most, size = (int(v or 0) for v in row or (0, 0))
        if most <= 1 or time.monotonic() > deadline:
            return size
        time.sleep(0.2)


def long_recording(plat: Platform, minutes: float) -> tuple[str, int]:
    sid = str(uuid.uuid4())
    t0 = int(time.time() * 1000) - int(minutes * 60_000) - 60_000
    bodies, raw = requests_for(plat.token, sid, recording(7, minutes, t0))
    with httpx.Client(timeout=60) as http:
        for body in bodies:
            r = http.post(f"{plat.url}/s/?compression=gzip-js", content=body)
            r.raise_for_status()
    if not _wait_drained(plat, 300):
        raise RuntimeError("the consumer did not drain")
    return sid, raw


def first_snapshot_s(plat: Platform, sid: str) -> tuple[float, float]:
    """Seconds until the first full snapshot is parsed out of the stream, and until the end."""
    decoder = json.JSONDecoder()
    headers = {"Authorization": f"Bearer {plat.secret_key}"}
    started = time.perf_counter()
    first = None
    with (
        httpx.Client(timeout=60) as http,
        http.stream("GET", f"{plat.url}/api/replays/{sid}/snapshots", headers=headers) as r,
    ):
        r.raise_for_status()
        buffer, pos = "", len('{"events":[')
        for piece in r.iter_text():
            if first is not None:
                continue
            buffer += piece
            while first is None:
                while pos < len(buffer) and buffer[pos] in ", \n":
                    pos += 1
                try:
                    event, end = decoder.raw_decode(buffer, pos)
                except json.JSONDecodeError:
                    break
                pos = end
                if event.get("type") == 2:
                    first = time.perf_counter() - started
    return first or float("nan"), time.perf_counter() - started


def first_frame_s(plat: Platform, sid: str) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(base_url=plat.url)
        page.goto("/replays/login")
        page.get_by_label("Secret key").fill(plat.secret_key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/replays")
        started = time.perf_counter()
        page.goto(f"/replays/{sid}")
        page.frame_locator("#player iframe").locator("h1").wait_for(timeout=60_000)
        took = time.perf_counter() - started
        browser.close()
    return took


# -- report --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100, help="recordings per ingest run")
    parser.add_argument("--minutes", type=float, default=2.0, help="length of each recording")
    parser.add_argument("--long-minutes", type=float, default=30.0, help="the long recording")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    opts = parser.parse_args(argv)
    results: dict[str, list[float]] = {}
    # Compaction merges a session's chunks once it has been quiet for 2 s (60 s by default).
    env = {"DEVFLOW_REPLAY_COMPACT_AFTER_S": "2", "DEVFLOW_REPLAY_COMPACT_INTERVAL_S": "1"}
    with Platform(topology="all", services=("replay",), extra_env=env) as plat:
        ingest(plat, max(4, opts.sessions // 5), opts.minutes, seed=0)  # warm-up, not counted
        for rep in range(opts.reps):
            run = ingest(plat, opts.sessions, opts.minutes, seed=rep + 1)
            for key, value in run.items():
                results.setdefault(key, []).append(value)
            print(
                f"ingest rep {rep + 1}: {run['raw_mb']:.1f} MB of recording in "
                f"{run['elapsed_s']:.2f} s: {run['mb_s']:.2f} MB/s, {run['sessions_s']:.1f} "
                f"sessions/s, stored {run['fresh_ratio']:.1f}x smaller, "
                f"{run['ratio']:.1f}x once compacted",
                flush=True,
            )
        sid, raw = long_recording(plat, opts.long_minutes)
        print(f"{opts.long_minutes:g}-minute recording: {raw / 1e6:.1f} MB of rrweb JSON")
        for _ in range(opts.reps):
            first, whole = first_snapshot_s(plat, sid)
            results.setdefault("first_snapshot_s", []).append(first)
            results.setdefault("whole_body_s", []).append(whole)
            if opts.browser:
                results.setdefault("first_frame_s", []).append(first_frame_s(plat, sid))
    median = {k: statistics.median(v) for k, v in results.items()}
    checks = [
        ("ingest, MB/s of recording data", median["mb_s"], ">=", TARGET_MB_S),
        (f"ingest, {opts.minutes:g}-minute sessions/s", median["sessions_s"], ">=",
         TARGET_SESSIONS_S),
        ("compression, compacted (rrweb JSON / stored)", median["ratio"], ">=", TARGET_RATIO),
        ("first full snapshot out of /snapshots, s", median["first_snapshot_s"], "<=",
         TARGET_FIRST_SNAPSHOT_S),
    ]  # fmt: skip
    if opts.browser:
        checks.append(
            ("first frame in the player (Chromium), s", median["first_frame_s"], "<=",
             TARGET_FIRST_FRAME_S)
        )  # fmt: skip
    print(f"\nmedians of {opts.reps} repetitions ({opts.sessions} sessions per ingest run)")
    missed = 0
    for label, value, op, target in checks:
        ok = value >= target if op == ">=" else value <= target
        missed += not ok
        print(f"  {label:<44} {value:>9.3f}  target {op} {target:g}  {'met' if ok else 'MISSED'}")
    print(f"  {'whole 30-minute body out of /snapshots, s':<44} {median['whole_body_s']:>9.3f}")
    print(f"  {'time to accept the requests (200s), s':<44} {median['accept_s']:>9.3f}")
    print(f"  {'compression before compaction':<44} {median['fresh_ratio']:>9.3f}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
