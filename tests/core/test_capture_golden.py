"""Golden capture payloads: requests as posthog-js, posthog-python and posthog-node really send
them, parsed through the one capture protocol (``services.core.capture``).

The files under ``golden/`` were recorded from the real SDKs (posthog-python 7.91 and posthog-node
5.74 against a local HTTP server, posthog-js 1.449 in headless Chromium; the lz64 body made with
lz-string 1.5 as old posthog-js builds did). Each holds the request as sent (path, headers, body)
and the events and recordings expected from it, derived from the SDK's own JSON.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.core import capture
from services.core.capture import InvalidCapture, ParsedRequest
from services.core.capture.lzstring import LzStringError, decompress_base64

GOLDEN = Path(__file__).parent / "golden"
FIXTURES = sorted(GOLDEN.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _read(doc: dict[str, Any], *, snapshots_only: bool | None = None) -> ParsedRequest:
    req = doc["request"]
    url = urlsplit(req["path"])
    query = dict(parse_qsl(url.query))
    headers = {k.lower(): v for k, v in req["headers"].items()}
    request = capture.CaptureRequest(
        body=base64.b64decode(req["body_base64"]),
        content_encoding=headers.get("content-encoding", ""),
        content_type=headers.get("content-type", ""),
        compression=query.get("compression"),
        sent_at_ms=query.get("_"),
    )
    return capture.read(
        request,
        now=datetime.fromisoformat(doc["now"]),
        snapshots_only=url.path.startswith("/s") if snapshots_only is None else snapshots_only,
    )


def test_every_sdk_is_covered() -> None:
    sdks = {_load(p)["sdk"].split()[0] for p in FIXTURES}
    assert sdks == {"posthog-js", "posthog-python", "posthog-node"}


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_golden_payload_parses_to_the_expected_events(path: Path) -> None:
    doc = _load(path)
    expect = doc["expect"]
    parsed = _read(doc)
    assert parsed.errors == []
    assert parsed.token == expect["token"]
    assert parsed.total == len(expect["events"]) + len(expect["snapshots"])
    got = [(e.uuid, e.event, e.distinct_id, e.timestamp.isoformat()) for e in parsed.events]
    want = [(e["uuid"], e["event"], e["distinct_id"], e["timestamp"]) for e in expect["events"]]
    assert [g[1:] for g in got] == [w[1:] for w in want]
    for (got_uuid, *_), (want_uuid, *_) in zip(got, want, strict=True):
        # An event sent without a uuid gets a server-assigned UUIDv7.
        assert got_uuid == want_uuid or (want_uuid is None and uuid.UUID(got_uuid).version == 7)
    for event in parsed.events:
        # The token authenticated the request; it is never stored as a property.
        assert event.properties.get("token") != expect["token"]
        assert event.timestamp.utcoffset() is not None
    snaps = [
        (
            s.uuid,
            s.session_id,
            s.window_id,
            s.distinct_id,
            s.timestamp.isoformat(),
            json.loads(bytes(s.data)),
        )
        for s in parsed.snapshots
    ]
    assert snaps == [
        (
            s["uuid"],
            s["session_id"],
            s["window_id"],
            s["distinct_id"],
            s["timestamp"],
            s["data"],
        )
        for s in expect["snapshots"]
    ]


@pytest.mark.parametrize(
    "path", [p for p in FIXTURES if p.name.startswith("posthog-js-s-")], ids=lambda p: p.stem
)
def test_a_recording_reads_the_same_on_ingest_and_on_replay(path: Path) -> None:
    # posthog-js may send $snapshot events to /batch as well as /s: one protocol, one result.
    doc = _load(path)
    on_s, on_batch = _read(doc, snapshots_only=True), _read(doc, snapshots_only=False)
    assert on_s.snapshots == on_batch.snapshots
    assert on_s.snapshots
    assert not on_batch.events
    assert not on_batch.errors


@pytest.mark.parametrize(
    "path", [p for p in FIXTURES if not p.name.startswith("posthog-js-s-")], ids=lambda p: p.stem
)
def test_the_recording_endpoint_refuses_analytics_events_by_index(path: Path) -> None:
    parsed = _read(_load(path), snapshots_only=True)
    assert not parsed.events
    assert not parsed.snapshots
    assert [(e.field, e.index) for e in parsed.errors] == [
        ("event", i) for i in range(parsed.total)
    ]


def test_python_set_and_set_once_events_carry_their_properties() -> None:
    parsed = _read(_load(GOLDEN / "posthog-python-batch.json"))
    by_name = {e.event: e for e in parsed.events}
    assert by_name["$set"].properties["$set"] == {"email": "u1@example.com"}
    assert by_name["$set_once"].properties["$set_once"] == {"first_seen": "2026-11-01"}
    assert by_name["$create_alias"].properties["alias"] == "user-1"
    assert by_name["grouped"].properties["$groups"] == {"company": "acme"}


def test_lz64_keeps_text_beyond_the_basic_plane() -> None:
    parsed = _read(_load(GOLDEN / "posthog-js-legacy-lz64.json"))
    assert parsed.events[0].properties["emoji"] == "\U0001f6d2"
    assert parsed.events[0].properties["$current_url"] == "https://shop.example/\u00e9"


# --- lz-string, directly -------------------------------------------------------------------------

# LZString.compressToBase64('{"event":"e","distinct_id":"d"}') and ('') from lz-string 1.5.0.
SMALL = "N4IgpgbmB2AuIC5wgDQgCYEsDOtPQGNYB9TdRDEAXyA="
EMPTY = "Q==="
# LZString.compressToBase64 of a 100,006-character JSON list: 1,516 characters that expand 66 times.
BOMB = (
    "NoIghgRiA05bkZyYh9lpe1Hc/9oVsZqXkWQSedVZRTfbQ3Y26xy18z03+936deAkcKGDREsZPFT5cxbOUzV09QpUal"
    "azbp3atew/qMHjF81bM3Tdkw8u3H1+07euXz914/fPPoEBwf6hfuG+kUFhUSER0fFxsTEJyYkpSalZmTkZeekFaUXZ"
    "+cW5hSUV5WWllTVVtdV1zU2tje0NnfXdLR09bV29gwP9fUOjw2Mj4zPTc1MLk0sTK7OLq/PLa1ubG+vbezv7uwenJ+"
    "fHl0fXh7dnV3cXN/fPT48PL++vH2+ff78An5A74gr5g/7A8GA0EQmHQqGQ2EIuGI+FI9FozGo7Eo3HI/EYnEErF4wm"
    "kknEolkynkqkU6kM+lMuks2lsmkcxmsznM9lcvm8nnc/lCgXCwUiyUS6Xi2Vi+WixVSuVKmUK5XqtWqlUa7WanVa3V"
    "Gw0mg1m/UWvVW43m62my02h32u22x0up2u51u71e32e/0ewPu4M+gMhv1B0ORiPhsNR2PRuMx+Mp5NppMZxNZhM51O"
    "Z3Pp7N5ouFgv54tlkvl0sV2s1+vVxtV5uV1t1ptthst9vdrudjs9/u9gd9wdj0cTkdT4czodz8fT+eT2cLlfLpeL1c"
    "bteb9db/d7w+74870/b88Hk8Xo9ny+3m/Xq93x/3p8P58f99ft8/19/l8AZ+v6Ad+/5AWBoEgcB4FQRB0GQTBiEIch"
    "8GoXB6GwZhSFoVhKEYdh+F4bhOEEcRhEkURpFUZRNEUXR5EMWRTHUfRzG0YxLEcexbGsZxPFcbx3F8cJQmiYJ4kCZJ"
    "/HSSJEkyWJUmyYpCnyXJSmqcpakqepOnaXpWkGZpRkaSZumGaZ+nGWZVmWRZ5nWXZNn2bZDmuS57nOZ5TneY5vluV5"
    "fkeT5/nBUFgUBSF4WhRFYWRXFsUJTFSXRSlUVpfFyXpYlqUZTl2VZZluUFXlhX5UV5VlZVpXVSVtXFfVFU1Q1VV1Y1"
    "rUtc1TVtZ17VdR13UDf1Q19SNvVjT1E2DaNk3DeNU1zbNM3TfNS0Lcti0rZtG3betu1rftq2HVte1HTtB3HedZ2nSd"
    "F3XZdN1XbdT2PS9D1vfdH13V9z3vd9r2fT9AP/X9v2AyDQOg8DYPQ1DsOQ/DEOI+DyMwwjKNw0jqOYxj6No1juPY3j"
    "OP4yTxNk0TFOE1TBM06TlO0+T1N00zjMM/TzNsyz7OsxzvM8/z3OC1zwuc6LfNC2LAsi+L0tS5LEsy/LssK3Litq6r"
    "Gsq1rys60revq9r+ua7rBsm8bRuG6bFtm5b5tW/bduO7bzs2671vuw7Lse07bue77Pve17fuB/7QcB8HEfh1HYcx6H"
    "cchwnkex4n0fx0naepynyfp1nGfZ5nOeFwXxf56Xefl7nldF2XVclxX1f13Xtc1w3zeNy3Tet13nc9x3fftwPbdD93"
    "/fD73g8jxP49j6Pk8z1Ps/T3Py9L6vi/rwvm/z9vK8bzva9b7vh8H/ve9H6fx9nyf5836BAC6QA="
)


def test_lz_string_round_trips() -> None:
    assert decompress_base64(SMALL, 1000) == '{"event":"e","distinct_id":"d"}'
    assert decompress_base64(EMPTY, 1000) == ""
    assert len(decompress_base64(BOMB, 200_000)) == 100_006


def test_lz_string_output_is_bounded() -> None:
    with pytest.raises(LzStringError) as exc:
        decompress_base64(BOMB, 10_000)
    assert exc.value.too_large


@pytest.mark.parametrize("text", ["", "   ", "N4Ig!", SMALL[:10], "////////"])
def test_lz_string_garbage_is_an_error(text: str) -> None:
    with pytest.raises(LzStringError) as exc:
        decompress_base64(text, 1000)
    assert not exc.value.too_large


def test_an_lz64_body_that_is_not_lz64_is_a_400_naming_the_body() -> None:
    with pytest.raises(InvalidCapture) as exc:
        capture.decode_request(b'{"event": "e"}', "", "application/json", "lz64")
    assert [e.field for e in exc.value.errors] == ["body"]
