"""Unit tests of capture body decoding and payload parsing (``services.core.capture``).

No server here: these pin down every branch of turning request bytes into events or field errors.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
import zlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest

from services.core.capture import CaptureTooLarge, InvalidCapture, ParsedRequest, parse
from services.core.capture import decode_request as decode_body
from services.core.capture.limits import (
    MAX_DISTINCT_ID_CHARS,
    MAX_EVENT_BYTES,
    MAX_NAME_CHARS,
    MAX_REQUEST_BYTES,
    MAX_SNAPSHOT_BYTES,
)
from services.core.capture.rules import uuid7

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"
TOKEN = "phc_test"


def _decode(
    body: bytes, *, encoding: str = "", content_type: str = "", compression: str | None = None
) -> bytes:
    return decode_body(body, encoding, content_type, compression)


def _parse(payload: Any, **kwargs: Any) -> ParsedRequest:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse(raw, now=NOW, **kwargs)


def _event(**fields: Any) -> dict[str, Any]:
    return {"event": "e", "distinct_id": "d", "api_key": TOKEN, **fields}


def _one_error(result: ParsedRequest) -> tuple[str, int | None]:
    assert not result.events, result.events
    assert len(result.errors) == 1, result.errors
    return result.errors[0].field, result.errors[0].index


def _fields(exc: pytest.ExceptionInfo[InvalidCapture]) -> list[str]:
    return [e.field for e in exc.value.errors]


# --- decoding: plain, gzip, base64, forms ---------------------------------------------------------

JSON_BODY = json.dumps({"event": "é €", "distinct_id": "d"}).encode()
UTF8_BODY = json.dumps({"event": "é €", "distinct_id": "d"}, ensure_ascii=False).encode()


def test_plain_json_passes_through_unchanged() -> None:
    assert _decode(UTF8_BODY) == UTF8_BODY
    assert _decode(UTF8_BODY, encoding="identity") == UTF8_BODY


def test_empty_body_is_refused() -> None:
    with pytest.raises(InvalidCapture) as exc:
        _decode(b"")
    assert _fields(exc) == ["body"]


@pytest.mark.parametrize(
    ("encoding", "compression"),
    [
        ("gzip", None),
        ("GZIP", None),
        ("x-gzip", None),
        ("", "gzip-js"),
        ("", "gzip"),
        ("", "GZIP-JS"),
        ("", None),  # nothing announces it: the magic bytes do
    ],
)
def test_gzip_is_recognised_however_it_is_announced(encoding: str, compression: str | None) -> None:
    body = gzip.compress(UTF8_BODY)
    assert _decode(body, encoding=encoding, compression=compression) == UTF8_BODY


def test_deflate_content_encoding_is_inflated() -> None:
    assert _decode(zlib.compress(UTF8_BODY), encoding="deflate") == UTF8_BODY


@pytest.mark.parametrize("encoding", ["gzip, identity", "identity,gzip", " Gzip "])
def test_identity_alongside_gzip_is_fine(encoding: str) -> None:
    assert _decode(gzip.compress(UTF8_BODY), encoding=encoding) == UTF8_BODY


def test_gzip_then_form_then_base64_is_unwrapped() -> None:
    form = b"data=" + quote(base64.b64encode(UTF8_BODY).decode()).encode()
    assert _decode(gzip.compress(form), encoding="gzip", content_type=FORM) == UTF8_BODY


@pytest.mark.parametrize("compression", ["lz", "brotli", "zstd"])
def test_unsupported_compression_is_named(compression: str) -> None:
    with pytest.raises(InvalidCapture) as exc:
        _decode(UTF8_BODY, compression=compression)
    assert _fields(exc) == ["compression"]


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "gzip, gzip"])
def test_unsupported_content_encoding_is_named(encoding: str) -> None:
    with pytest.raises(InvalidCapture) as exc:
        _decode(b"\x00\x01binary", encoding=encoding)
    assert _fields(exc) == ["Content-Encoding"]


def test_truncated_gzip_is_refused() -> None:
    body = gzip.compress(UTF8_BODY * 50)
    with pytest.raises(InvalidCapture) as exc:
        _decode(body[: len(body) // 2], encoding="gzip")
    assert _fields(exc) == ["body"]
    assert "truncated" in exc.value.errors[0].reason


def test_corrupt_gzip_is_refused() -> None:
    with pytest.raises(InvalidCapture) as exc:
        _decode(b"\x1f\x8b" + b"not really gzip at all", encoding="gzip")
    assert _fields(exc) == ["body"]


def test_gzip_announced_but_not_sent_is_refused() -> None:
    with pytest.raises(InvalidCapture) as exc:
        _decode(UTF8_BODY, compression="gzip-js")
    assert _fields(exc) == ["body"]


def test_decompression_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\x00" * (30 * 1024 * 1024))
    assert len(bomb) < 100 * 1024
    with pytest.raises(CaptureTooLarge) as exc:
        _decode(bomb)
    assert exc.value.status == 413
    assert _fields(exc) == ["body"]  # type: ignore[arg-type]


def test_request_just_over_the_limit_after_decompression_is_too_large() -> None:
    with pytest.raises(CaptureTooLarge):
        _decode(gzip.compress(b" " * (MAX_REQUEST_BYTES + 1)), encoding="gzip")


def test_request_at_the_limit_after_decompression_is_accepted() -> None:
    body = b"[" + b" " * (MAX_REQUEST_BYTES - 2) + b"]"
    assert len(_decode(gzip.compress(body))) == MAX_REQUEST_BYTES


def test_uncompressed_request_over_the_limit_is_too_large() -> None:
    with pytest.raises(CaptureTooLarge):
        _decode(b" " * (MAX_REQUEST_BYTES + 1))


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda b: quote(base64.b64encode(b).decode()), id="percent-encoded"),
        # A form post where "+" was not escaped arrives with spaces in its place.
        pytest.param(lambda b: base64.b64encode(b).decode().replace("+", " "), id="plus-as-space"),
        pytest.param(lambda b: base64.urlsafe_b64encode(b).decode(), id="url-safe-alphabet"),
        pytest.param(lambda b: base64.b64encode(b).decode().rstrip("="), id="unpadded"),
        pytest.param(lambda b: quote(b.decode()), id="raw-json"),
        pytest.param(
            lambda b: quote(base64.b64encode(gzip.compress(b)).decode()), id="base64-of-gzip"
        ),
    ],
)
def test_legacy_form_data_is_decoded(encode: Any) -> None:
    # Characters whose base64 contains "+", "/" and "-"-prone bytes, and non-ASCII text.
    payload = json.dumps({"event": "é €", "distinct_id": "?>>?~~", "p": "ÿþ"}).encode()
    body = f"data={encode(payload)}".encode()
    assert _decode(body, content_type=FORM) == payload
    # The form is recognised by its "data=" prefix even without a content type.
    assert _decode(body) == payload


def test_form_data_with_utf8_json_keeps_its_bytes() -> None:
    # Percent-escaped UTF-8 must come back as the same bytes, not be re-decoded.
    body = f"data={quote(UTF8_BODY.decode())}&compression=none".encode()
    assert _decode(body, content_type=FORM) == UTF8_BODY
    assert json.loads(_decode(body, content_type=FORM))["event"] == "é €"


def test_form_data_with_other_fields_first() -> None:
    body = f"ver=1.2&data={quote(base64.b64encode(JSON_BODY).decode())}".encode()
    assert _decode(body, content_type=FORM) == JSON_BODY


def test_form_without_data_field_names_data() -> None:
    with pytest.raises(InvalidCapture) as exc:
        _decode(b"foo=bar", content_type=FORM)
    assert _fields(exc) == ["data"]


@pytest.mark.parametrize("data", ["!!!notbase64!!!", "abcde", "e30=garbage="])
def test_form_with_bad_base64_names_data(data: str) -> None:
    with pytest.raises(InvalidCapture) as exc:
        _decode(f"data={quote(data)}".encode(), content_type=FORM)
    assert _fields(exc) == ["data"]


def test_form_with_too_many_fields_is_a_400_not_a_crash() -> None:
    body = b"data=e30" + b"&x=1" * 100
    with pytest.raises(InvalidCapture) as exc:
        _decode(body, content_type=FORM)
    assert _fields(exc) == ["body"]


def test_json_body_with_form_content_type_is_json() -> None:
    assert _decode(UTF8_BODY, content_type=FORM) == UTF8_BODY


def test_base64_compression_of_the_raw_body() -> None:
    assert _decode(base64.b64encode(UTF8_BODY), compression="base64") == UTF8_BODY
    with pytest.raises(InvalidCapture) as exc:
        _decode(b"{not base64}", compression="base64")
    assert _fields(exc) == ["body"]


# --- parsing: shapes and tokens -------------------------------------------------------------------


def test_single_event() -> None:
    result = _parse(_event(properties={"a": 1}))
    assert result.token == TOKEN
    assert result.total == 1
    assert not result.errors
    [ev] = result.events
    assert (ev.event, ev.distinct_id, ev.properties) == ("e", "d", {"a": 1})
    assert ev.timestamp == NOW


def test_batch_object_carries_the_token() -> None:
    result = _parse(
        {
            "api_key": TOKEN,
            "batch": [{"event": "a", "distinct_id": "1"}, {"event": "b", "distinct_id": "2"}],
        }
    )
    assert result.token == TOKEN
    assert [e.event for e in result.events] == ["a", "b"]
    assert result.total == 2


def test_bare_list_takes_the_token_from_the_events() -> None:
    result = _parse([{"event": "a", "distinct_id": "1", "properties": {"token": TOKEN}}, _event()])
    assert result.token == TOKEN
    assert len(result.events) == 2


@pytest.mark.parametrize(
    "carrier",
    [
        {"api_key": TOKEN},
        {"token": TOKEN},
        {"$token": TOKEN},
        {"properties": {"token": TOKEN}},
        {"properties": {"$token": TOKEN}},
    ],
)
def test_every_token_field_is_read(carrier: dict[str, Any]) -> None:
    result = _parse({"event": "e", "distinct_id": "d", **carrier})
    assert result.token == TOKEN
    assert len(result.events) == 1


def test_the_token_is_not_stored_as_a_property() -> None:
    [ev] = _parse({"event": "e", "distinct_id": "d", "properties": {"token": TOKEN, "k": 1}}).events
    assert ev.properties == {"k": 1}
    [ev] = _parse({"event": "e", "distinct_id": "d", "properties": {"$token": TOKEN}}).events
    assert ev.properties == {}


def test_a_property_named_token_that_is_not_the_token_is_kept() -> None:
    [ev] = _parse(_event(properties={"token": "user-data"})).events
    assert ev.properties == {"token": "user-data"}


def test_no_token_anywhere() -> None:
    result = _parse({"event": "e", "distinct_id": "d"})
    assert result.token is None
    assert len(result.events) == 1


def test_an_event_with_another_projects_token_is_rejected() -> None:
    result = _parse(
        {
            "api_key": TOKEN,
            "batch": [
                {"event": "a", "distinct_id": "1"},
                {"event": "b", "distinct_id": "1", "api_key": "phc_other"},
            ],
        }
    )
    assert [e.event for e in result.events] == ["a"]
    assert [(e.field, e.index) for e in result.errors] == [("api_key", 1)]


def test_token_is_known_even_when_properties_are_invalid() -> None:
    # So that the request is answered 400 naming properties, not 401.
    result = _parse({"event": "e", "distinct_id": "d", "api_key": TOKEN, "properties": "x"})
    assert result.token == TOKEN
    assert _one_error(result) == ("properties", 0)


def test_distinct_id_from_properties() -> None:
    [ev] = _parse(
        {"event": "e", "api_key": TOKEN, "properties": {"distinct_id": "from-props"}}
    ).events
    assert ev.distinct_id == "from-props"


@pytest.mark.parametrize(("value", "expected"), [(42, "42"), ("  padded  ", "padded")])
def test_distinct_id_is_normalised(value: Any, expected: str) -> None:
    [ev] = _parse(_event(distinct_id=value)).events
    assert ev.distinct_id == expected


def test_distinct_id_at_the_length_limit_is_accepted() -> None:
    assert len(_parse(_event(distinct_id="x" * MAX_DISTINCT_ID_CHARS)).events) == 1


def test_event_name_at_the_length_limit_is_accepted() -> None:
    assert len(_parse(_event(event="x" * MAX_NAME_CHARS)).events) == 1


BAD_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "event-number": ({"event": 5}, "event"),
    "event-empty": ({"event": ""}, "event"),
    "event-blank": ({"event": "   "}, "event"),
    "event-null": ({"event": None}, "event"),
    "event-list": ({"event": ["a"]}, "event"),
    "event-too-long": ({"event": "x" * (MAX_NAME_CHARS + 1)}, "event"),
    "event-nul": ({"event": "nul\u0000"}, "event"),
    "properties-string": ({"properties": "not an object"}, "properties"),
    "properties-list": ({"properties": [1, 2]}, "properties"),
    "properties-nul-value": ({"properties": {"k": "v\u0000"}}, "properties"),
    "properties-nul-key": ({"properties": {"k\u0000": "v"}}, "properties"),
    "properties-nul-deep": ({"properties": {"deep": [{"x": ["\u0000"]}]}}, "properties"),
    "set-nul": ({"$set": {"k": "\u0000"}}, "properties"),
    "uuid-garbage": ({"uuid": "not-a-uuid"}, "uuid"),
    "uuid-number": ({"uuid": 12345}, "uuid"),
    "timestamp-words": ({"timestamp": "yesterday"}, "timestamp"),
    "timestamp-bool": ({"timestamp": True}, "timestamp"),
    "timestamp-object": ({"timestamp": {"at": 1}}, "timestamp"),
    "timestamp-ms-out-of-range": ({"timestamp": 10**20}, "timestamp"),
    "distinct-id-null": ({"distinct_id": None}, "distinct_id"),
    "distinct-id-empty": ({"distinct_id": ""}, "distinct_id"),
    "distinct-id-blank": ({"distinct_id": "   "}, "distinct_id"),
    "distinct-id-bool": ({"distinct_id": True}, "distinct_id"),
    "distinct-id-object": ({"distinct_id": {"id": 1}}, "distinct_id"),
    "distinct-id-too-long": ({"distinct_id": "x" * (MAX_DISTINCT_ID_CHARS + 1)}, "distinct_id"),
    "distinct-id-nul": ({"distinct_id": "nul\u0000"}, "distinct_id"),
    "offset-string": ({"offset": "10"}, "offset"),
    "offset-bool": ({"offset": True}, "offset"),
    "offset-out-of-range": ({"offset": 1e300}, "offset"),
    "set-string": ({"$set": "x"}, "$set"),
    "set-once-list": ({"$set_once": [1]}, "$set_once"),
}


@pytest.mark.parametrize(("fields", "field"), list(BAD_FIELDS.values()), ids=list(BAD_FIELDS))
def test_bad_field_is_named(fields: dict[str, Any], field: str) -> None:
    result = _parse(_event(**fields))
    assert _one_error(result) == (field, 0)
    assert result.token == TOKEN


def test_escaped_backslash_u0000_text_is_not_a_nul() -> None:
    # The JSON text "\\u0000" is a backslash followed by "u0000": legal, kept as is.
    [ev] = _parse(_event(properties={"k": "\\u0000"})).events
    assert ev.properties == {"k": "\\u0000"}


def test_missing_distinct_id_is_named() -> None:
    result = _parse({"event": "e", "api_key": TOKEN})
    assert _one_error(result) == ("distinct_id", 0)


def test_each_bad_event_of_a_batch_is_named_by_index() -> None:
    batch = [
        {"event": "ok-0", "distinct_id": "a"},
        {"event": 1, "distinct_id": "a"},
        {"event": "ok-2", "distinct_id": "a"},
        42,
        {"event": "x", "distinct_id": "a", "uuid": "nope"},
        {"event": "ok-5", "distinct_id": "a"},
    ]
    result = _parse({"api_key": TOKEN, "batch": batch})
    assert [e.event for e in result.events] == ["ok-0", "ok-2", "ok-5"]
    assert [(e.field, e.index) for e in result.errors] == [("event", 1), ("event", 3), ("uuid", 4)]
    assert result.total == 6


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"{not json", "body"),
        (b'{"event": "e"', "body"),
        (b'"a string"', "body"),
        (b"42", "body"),
        (b"null", "body"),
        (b'{"batch": "nope"}', "body"),
        (b'{"batch": []}', "batch"),
        (b"[]", "batch"),
        (b"[" * 5000 + b"]" * 5000, "body"),
    ],
)
def test_a_body_that_is_not_events_is_refused(payload: bytes, field: str) -> None:
    with pytest.raises(InvalidCapture) as exc:
        _parse(payload)
    assert _fields(exc) == [field]


@pytest.mark.parametrize("shape", ["single", "batch", "list"])
def test_deeply_nested_properties_are_refused_not_crashed_on(shape: str) -> None:
    # The decoder's recursion limit is reached while the body is split into events, so the whole
    # request is refused (nothing is acknowledged, so nothing is lost).
    deep = b'{"event": "e", "distinct_id": "d", "properties": {"a": ' + b"[" * 5000
    deep += b"]" * 5000 + b"}}"
    ok = b'{"event": "ok", "distinct_id": "d"}'
    payload = {
        "single": deep,
        "batch": b'{"batch": [' + ok + b", " + deep + b"]}",
        "list": b"[" + ok + b", " + deep + b"]",
    }[shape]
    with pytest.raises(InvalidCapture) as exc:
        parse(payload, now=NOW)
    assert _fields(exc) == ["body"]


def test_nesting_below_the_limit_is_fine() -> None:
    nested: Any = "leaf"
    for _ in range(100):
        nested = {"n": [nested]}
    [ev] = _parse(_event(properties={"deep": nested})).events
    assert ev.properties["deep"] == nested


def test_a_single_event_over_the_event_limit_is_too_large() -> None:
    big = _event(properties={"blob": "x" * MAX_EVENT_BYTES})
    with pytest.raises(CaptureTooLarge) as exc:
        _parse(big)
    assert exc.value.errors[0].field == "size"


def test_an_event_over_the_limit_in_a_batch_is_rejected_alone() -> None:
    big = {"event": "big", "distinct_id": "d", "properties": {"blob": "x" * MAX_EVENT_BYTES}}
    result = _parse({"api_key": TOKEN, "batch": [{"event": "ok", "distinct_id": "d"}, big]})
    assert [e.event for e in result.events] == ["ok"]
    assert [(e.field, e.index) for e in result.errors] == [("size", 1)]


def test_set_and_set_once_at_the_top_level_become_properties() -> None:
    [ev] = _parse(
        _event(**{"$set": {"a": 1}, "$set_once": {"b": 2}}, properties={"$set": {"c": 3}})
    ).events
    assert ev.properties["$set"] == {"a": 1, "c": 3}
    assert ev.properties["$set_once"] == {"b": 2}


# --- uuids ----------------------------------------------------------------------------------------


def test_a_uuid_is_assigned_when_absent() -> None:
    events = _parse([_event(), _event()]).events
    ids = [uuid.UUID(e.uuid) for e in events]
    assert all(u.version == 7 for u in ids)
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    "given",
    [
        "0190B6E6-7A7C-7B1E-9C3A-1234567890AB",
        "{0190b6e6-7a7c-7b1e-9c3a-1234567890ab}",
        "urn:uuid:0190b6e6-7a7c-7b1e-9c3a-1234567890ab",
        "0190b6e67a7c7b1e9c3a1234567890ab",
    ],
)
def test_a_given_uuid_is_normalised(given: str) -> None:
    [ev] = _parse(_event(uuid=given)).events
    assert ev.uuid == "0190b6e6-7a7c-7b1e-9c3a-1234567890ab"


def test_uuid7_layout_and_order() -> None:
    before = datetime.now(UTC)
    first = uuid.UUID(uuid7())
    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    ms = first.int >> 80
    stamped = datetime.fromtimestamp(ms / 1000, UTC)
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(UTC) + timedelta(seconds=1)
    # Ids of later milliseconds sort after earlier ones.
    later = [uuid.UUID(uuid7()) for _ in range(2000)]
    assert all((u.int >> 80) >= ms for u in later)
    assert len({*later, first}) == 2001


# --- timestamps -----------------------------------------------------------------------------------


def test_no_timestamp_means_now() -> None:
    assert _parse(_event()).events[0].timestamp == NOW


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123+00:00", datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        # Nanoseconds (Go, Java) and 7 digits (.NET) are cut to microseconds.
        ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T12:00:00.1234567+02:00", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01 10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # naive means UTC
        ("2024-05-01T23:30:00-05:00", datetime(2024, 5, 2, 4, 30, tzinfo=UTC)),
        (1714557600000, datetime(2024, 5, 1, 10, tzinfo=UTC)),  # epoch milliseconds
        (1714557600000.5, datetime(2024, 5, 1, 10, 0, 0, 500, tzinfo=UTC)),
    ],
)
def test_timestamps_are_read_and_stored_in_utc(value: Any, expected: datetime) -> None:
    [ev] = _parse(_event(timestamp=value)).events
    assert ev.timestamp == expected
    # UTC itself, so the writer's partition (the timestamp's date) is the row's UTC day.
    assert ev.timestamp.utcoffset() == timedelta(0)
    assert ev.timestamp.date() == expected.date()


def test_clock_skew_is_corrected_from_sent_at_in_the_body() -> None:
    # The client's clock runs one hour fast; its event happened 10 s before it sent the batch.
    client_now = NOW + timedelta(hours=1)
    body = {
        "api_key": TOKEN,
        "sent_at": client_now.isoformat(),
        "batch": [
            {
                "event": "e",
                "distinct_id": "d",
                "timestamp": (client_now - timedelta(seconds=10)).isoformat(),
            }
        ],
    }
    assert _parse(body).events[0].timestamp == NOW - timedelta(seconds=10)


def test_clock_skew_is_corrected_for_a_single_event_too() -> None:
    client_now = NOW - timedelta(days=2)
    body = _event(
        sent_at=client_now.isoformat(), timestamp=(client_now - timedelta(minutes=5)).isoformat()
    )
    assert _parse(body).events[0].timestamp == NOW - timedelta(minutes=5)


def test_clock_skew_is_corrected_from_the_query_in_milliseconds() -> None:
    client_now = NOW + timedelta(minutes=30)
    ms = str(int(client_now.timestamp() * 1000))
    ts = (client_now - timedelta(seconds=3)).isoformat()
    assert _parse(_event(timestamp=ts), query_sent_at_ms=ms).events[0].timestamp == NOW - timedelta(
        seconds=3
    )


def test_sent_at_in_the_body_wins_over_the_query() -> None:
    body_sent = NOW + timedelta(hours=2)
    query_sent = str(int((NOW + timedelta(hours=5)).timestamp() * 1000))
    result = _parse(
        _event(sent_at=body_sent.isoformat(), timestamp=body_sent.isoformat()),
        query_sent_at_ms=query_sent,
    )
    assert result.events[0].timestamp == NOW


@pytest.mark.parametrize("query", ["", "abc", "99999999999999999999999"])
def test_unreadable_query_sent_at_is_ignored(query: str) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    assert (
        _parse(_event(timestamp=ts.isoformat()), query_sent_at_ms=query).events[0].timestamp == ts
    )


def test_ignore_sent_at_property_keeps_the_timestamp() -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    body = _event(
        sent_at=(NOW + timedelta(hours=3)).isoformat(),
        timestamp=ts.isoformat(),
        properties={"$ignore_sent_at": True},
    )
    assert _parse(body).events[0].timestamp == ts


def test_offset_counts_back_from_now() -> None:
    assert _parse(_event(offset=1500)).events[0].timestamp == NOW - timedelta(milliseconds=1500)


def test_timestamp_wins_over_offset() -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    assert _parse(_event(timestamp=ts.isoformat(), offset=1000)).events[0].timestamp == ts


@pytest.mark.parametrize(
    "fields",
    [
        {"timestamp": (NOW + timedelta(hours=23, minutes=1)).isoformat()},
        {"timestamp": "2999-01-01T00:00:00Z"},
        {"offset": -24 * 3600 * 1000},
    ],
)
def test_more_than_23_hours_in_the_future_is_clamped_to_now(fields: dict[str, Any]) -> None:
    assert _parse(_event(**fields)).events[0].timestamp == NOW


def test_less_than_23_hours_in_the_future_is_kept() -> None:
    ts = NOW + timedelta(hours=22, minutes=59)
    assert _parse(_event(timestamp=ts.isoformat())).events[0].timestamp == ts


def test_skew_correction_out_of_range_is_a_field_error_not_a_crash() -> None:
    body = _event(timestamp="9999-12-31T00:00:00Z", sent_at="0001-01-02T00:00:00Z")
    assert _one_error(_parse(body)) == ("timestamp", 0)
    body = _event(timestamp="0001-01-01T00:00:00Z", sent_at="9999-12-31T00:00:00Z")
    assert _one_error(_parse(body)) == ("timestamp", 0)


def test_timestamp_that_has_no_utc_equivalent_is_a_field_error() -> None:
    assert _one_error(_parse(_event(timestamp="0001-01-01T00:00:00+14:00"))) == ("timestamp", 0)


def test_timestamps_keep_their_zone_independent_meaning() -> None:
    zone = timezone(timedelta(hours=9))
    ts = datetime(2024, 5, 1, 8, 0, tzinfo=zone)
    [ev] = _parse(_event(timestamp=ts.isoformat())).events
    assert ev.timestamp == ts
    assert ev.timestamp.tzinfo == UTC


# --- $snapshot events: the same rules on every endpoint ------------------------------------------


def _snapshot(**fields: Any) -> dict[str, Any]:
    props = {"$session_id": "s1", "$window_id": "w1", "$snapshot_data": [{"type": 4}]}
    return {
        "event": "$snapshot",
        "distinct_id": "d",
        "api_key": TOKEN,
        "properties": props,
        **fields,
    }


@pytest.mark.parametrize("snapshots_only", [False, True], ids=["batch", "s"])
def test_a_snapshot_is_the_same_value_on_both_endpoints(snapshots_only: bool) -> None:
    sent = NOW + timedelta(hours=1)
    # No uuid; posthog-js puts a sent_at on each recording event.
    body = _snapshot(timestamp=(sent - timedelta(seconds=2)).isoformat(), sent_at=sent.isoformat())
    result = parse(json.dumps([body]).encode(), now=NOW, snapshots_only=snapshots_only)
    assert not result.events
    [snap] = result.snapshots
    assert (snap.session_id, snap.window_id, snap.distinct_id) == ("s1", "w1", "d")
    assert snap.timestamp == NOW - timedelta(seconds=2)
    assert uuid.UUID(snap.uuid).version == 7
    assert json.loads(bytes(snap.data)) == [{"type": 4}]


def test_a_snapshot_may_be_larger_than_an_event_but_not_without_limit() -> None:
    big = _snapshot()
    big["properties"]["$snapshot_data"] = [{"type": 2, "data": "x" * (2 * MAX_EVENT_BYTES)}]
    event = _event(properties={"blob": "x" * (2 * MAX_EVENT_BYTES)})
    result = _parse({"api_key": TOKEN, "batch": [big, event]})
    assert len(result.snapshots) == 1
    assert [(e.field, e.index) for e in result.errors] == [("size", 1)]
    huge = _snapshot()
    huge["properties"]["$snapshot_data"] = [{"data": "x" * MAX_SNAPSHOT_BYTES}]
    with pytest.raises(CaptureTooLarge):
        _parse(huge)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"$session_id": None}, "$session_id"),
        ({"$session_id": "a/b"}, "$session_id"),
        ({"$window_id": 5}, "$window_id"),
        ({"$snapshot_data": None}, "$snapshot_data"),
        ({"$snapshot_data": []}, "$snapshot_data"),
        ({"$snapshot_data": "text"}, "$snapshot_data"),
    ],
)
def test_a_bad_snapshot_property_is_named(change: dict[str, Any], field: str) -> None:
    body = _snapshot()
    body["properties"].update(change)
    for snapshots_only in (False, True):
        result = parse(json.dumps([body]).encode(), now=NOW, snapshots_only=snapshots_only)
        assert _one_error(result) == (field, 0)


def test_the_recording_endpoint_names_other_events_by_index() -> None:
    result = parse(json.dumps([_snapshot(), _event()]).encode(), now=NOW, snapshots_only=True)
    assert len(result.snapshots) == 1
    assert [(e.field, e.index) for e in result.errors] == [("event", 1)]
