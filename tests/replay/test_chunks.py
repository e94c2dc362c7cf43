"""``services.replay.chunks``, in process: decoding ``$snapshot_data`` in every accepted shape,
the chunk's summary, compression and quarantine reasons."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import zstandard

from schemas.replay import Snapshot
from services.replay import chunks
from tests.replay.factories import (
    T0,
    click,
    console_error,
    console_log,
    full_snapshot,
    legacy_pieces,
    meta,
    mouse_move,
    mutation,
    text_input,
)


def snap(data: Any, session: str = "s1", window: str | None = "w1", **kw: Any) -> Snapshot:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Snapshot(
        uuid=kw.pop("uuid", str(uuid.uuid4())),
        session_id=session,
        distinct_id=kw.pop("distinct_id", "user-1"),
        timestamp=datetime.now(UTC),
        data=msgspec.Raw(raw),
        window_id=window,
        **kw,
    )


def stored(chunk: chunks.Chunk) -> list[Any]:
    body = zstandard.ZstdDecompressor().decompress(chunk.data)
    assert len(body) == chunk.raw_bytes
    return json.loads(body)


def test_one_chunk_per_session_and_window_sorted_by_time() -> None:
    late, early = mouse_move(T0 + 200), meta(T0)
    out = chunks.prepare(
        [
            snap([late], uuid="b"),
            snap([early], uuid="a"),
            snap([click(T0 + 50)], window="w2"),
            snap([click(T0 + 60)], session="s2"),
        ],
        level=3,
    )
    assert out.rejected == []
    assert [(c.window_id, c.summary.event_count) for c in out.chunks] == [
        ("w1", 2),
        ("w2", 1),
        ("w1", 1),
    ]
    first = out.chunks[0]
    assert first.chunk_id == "a"  # the smallest uuid of its snapshots: stable across retries
    assert stored(first) == [early, late]
    assert (first.summary.first_ms, first.summary.last_ms) == (T0, T0 + 200)


def test_events_keep_the_exact_bytes_sent() -> None:
    raw = b'[{"type":4,"data":{"href":"https://a.test/","width":1},  "timestamp":%d}]' % T0
    [chunk] = chunks.prepare([snap(raw)], level=1).chunks
    body = zstandard.ZstdDecompressor().decompress(chunk.data)
    assert body == b"[" + raw[1:-1] + b"]"
    assert chunks.timed_events(body) == [(T0, raw[1:-1])]


def test_a_single_event_is_accepted_as_old_posthog_js_sends_it() -> None:
    [chunk] = chunks.prepare([snap(meta(T0))], level=1).chunks
    assert stored(chunk) == [meta(T0)]


def test_the_summary() -> None:
    events = [
        meta(T0, "https://shop.example/a"),
        full_snapshot(T0 + 1),
        mouse_move(T0 + 1_000),
        click(T0 + 2_000),
        mouse_move(T0 + 20_000),  # 18 s later: activity is capped at 5 s per gap
        text_input(T0 + 20_100, "a"),
        text_input(T0 + 20_200, "a"),  # the same text again: not a keypress
        text_input(T0 + 20_300, "ab"),
        console_error(T0 + 21_000),
        console_log(T0 + 21_100),
        meta(T0 + 22_000, "https://shop.example/b"),
    ]
    [chunk] = chunks.prepare([snap(events, current_url="https://shop.example/start")], 3).chunks
    s = chunk.summary
    assert s.event_count == len(events)
    assert s.has_full_snapshot
    assert (s.first_active_ms, s.last_active_ms) == (T0 + 1_000, T0 + 20_300)
    assert s.active_ms == 1_000 + 5_000 + 100 + 100 + 100
    assert (s.click_count, s.keypress_count, s.console_error_count) == (1, 2, 1)
    assert s.urls == [
        "https://shop.example/start",
        "https://shop.example/a",
        "https://shop.example/b",
    ]


def test_posthog_js_compressed_events_are_expanded() -> None:
    def latin1_gzip(value: Any) -> str:
        return gzip.compress(json.dumps(value).encode()).decode("latin-1")

    full = full_snapshot(T0)
    change = mutation(T0 + 10, "hello")
    compressed = [
        {**full, "cv": "2024-10", "data": latin1_gzip(full["data"])},
        {
            **change,
            "cv": "2024-10",
            "data": {
                "source": 0,
                **{k: latin1_gzip(change["data"][k]) for k in ("texts", "attributes", "removes")},
                "adds": latin1_gzip(change["data"]["adds"]),
            },
        },
    ]
    [chunk] = chunks.prepare([snap(compressed)], level=3).chunks
    assert stored(chunk) == [full, change]


def test_legacy_chunked_snapshots_in_utf16_and_utf8() -> None:
    events = [meta(T0), full_snapshot(T0 + 1)]
    for utf16 in (True, False):
        pieces = legacy_pieces(events, 3, utf16=utf16)
        out = chunks.prepare([snap(p) for p in reversed(pieces)], level=3)
        assert out.rejected == []
        [chunk] = out.chunks
        assert stored(chunk) == events


def test_an_incomplete_legacy_chunk_is_quarantined_piece_by_piece() -> None:
    pieces = legacy_pieces([meta(T0)], 3)
    snaps = [snap(p) for p in pieces[:2]]
    out = chunks.prepare(snaps, level=3)
    assert out.chunks == []
    assert [r.chunk_id for r in out.rejected] == [s.uuid for s in snaps]
    assert all("2 of 3 pieces" in r.reason for r in out.rejected)


def test_bad_data_is_rejected_with_the_reason_and_the_rest_is_kept() -> None:
    good = snap([meta(T0)])
    cases = {
        b"[1, 2": "not JSON",
        b'[{"type": 3}]': "event 0 is not an rrweb event",
        b'[{"type": 3, "data": "x", "timestamp": 1}]': "data must be an object",
        b'[{"type": 2, "data": {}, "timestamp": 1, "cv": "1999"}]': "unknown compressed event",
        b'[{"type": 2, "data": "not gzip", "timestamp": 1, "cv": "2024-10"}]': "bad gzip",
    }
    bad = [snap(raw) for raw in cases]
    out = chunks.prepare([good, *bad], level=3)
    assert [c.summary.event_count for c in out.chunks] == [1]
    reasons = {r.chunk_id: r.reason for r in out.rejected}
    for s, expected in zip(bad, cases.values(), strict=True):
        assert expected in reasons[s.uuid], (expected, reasons[s.uuid])


def test_an_empty_list_makes_no_chunk() -> None:
    assert chunks.prepare([snap([])], level=3) == chunks.Prepared()
