"""The pure pieces on their own: the SSE parser, backoff, change detection, split reasons and
the exposure LRU."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from devflow_sdk._flagsync import FlagDetails, decode_payload
from devflow_sdk._flagsync.definitions import SERVER, changed_keys, parse, unquote
from devflow_sdk._flagsync.details import is_split
from devflow_sdk._flagsync.exposures import Exposures
from devflow_sdk._flagsync.fetch import Event, EventParser
from devflow_sdk._flagsync.sync import Backoff

from tests.sdk.flags_client.support import Captured


def test_sse_parser_follows_the_event_stream_rules() -> None:
    parser = EventParser()
    lines = [
        ": keepalive",
        "",
        "event: definitions",
        "id: abc",
        'data: {"flags":',
        "data:  []}",
        "",
        "data: plain",
        "",
        "id: skipped\x00",
        "",
    ]
    events = [e for line in lines if (e := parser.feed(line)) is not None]
    assert events == [
        Event("definitions", '{"flags":\n []}', "abc"),
        Event("message", "plain", "abc"),
    ]
    assert parser.last_id == "abc"  # an id with NUL is ignored


def test_backoff_grows_with_jitter_up_to_its_ceiling() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    delays = [backoff.next() for _ in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.next(at_least=20.0) == 20.0  # the server's Retry-After wins
    backoff.reset()
    assert backoff.next() <= 0.5


def _defs(flags: list[dict[str, Any]], **extra: Any) -> Any:
    return parse(json.dumps({"flags": flags, **extra}).encode(), etag="e", source=SERVER)


def test_changed_keys() -> None:
    a = {"key": "a", "active": True, "filters": {}}
    b = {"key": "b", "active": True, "filters": {}}
    old = _defs([a, b])
    assert changed_keys(None, old) == ["a", "b"]
    assert changed_keys(old, _defs([a, {**b, "active": False}])) == ["b"]
    assert changed_keys(old, _defs([a])) == ["b"]
    assert changed_keys(old, _defs([a, b, {"key": "c"}])) == ["c"]
    assert changed_keys(old, _defs([a, b], cohorts={"1": {}})) == ["a", "b"]
    assert unquote('W/"v1"') == "v1"
    assert unquote(None) is None


@pytest.mark.parametrize(
    ("condition", "multivariate", "reason", "variant", "split"),
    [
        ({"rollout_percentage": 100}, None, "condition_match", None, False),
        ({"rollout_percentage": None}, None, "condition_match", None, False),
        ({"rollout_percentage": 30}, None, "condition_match", None, True),
        ({"rollout_percentage": 30}, None, "out_of_rollout_bound", None, True),
        ({"rollout_percentage": 100}, [50, 50], "condition_match", "a", True),
        ({"rollout_percentage": 100, "variant": "a"}, [50, 50], "condition_match", "a", False),
        ({"rollout_percentage": 100}, [100, 0], "condition_match", "a", False),
        ({"rollout_percentage": 100}, None, "no_condition_match", None, False),
    ],
)
def test_split_reasons(
    condition: dict[str, Any], multivariate: Any, reason: str, variant: Any, split: bool
) -> None:
    filters: dict[str, Any] = {"groups": [{"properties": [], **condition}]}
    if multivariate:
        filters["multivariate"] = {
            "variants": [
                {"key": k, "rollout_percentage": p} for k, p in zip("ab", multivariate, strict=True)
            ]
        }
    assert is_split({"key": "f", "filters": filters}, reason, 0, variant) is split


def test_payloads_decode_from_json_text() -> None:
    assert decode_payload('{"a": [1, 2]}') == {"a": [1, 2]}
    assert decode_payload({"already": "decoded"}) == {"already": "decoded"}
    assert decode_payload(None) is None
    with pytest.raises(msgspec.DecodeError):
        decode_payload("{nope")


def test_exposures_are_remembered_in_a_bounded_lru() -> None:
    captured = Captured()
    exposures = Exposures(captured, max_remembered=2)

    def see(user: str, value: Any = True) -> None:
        details = FlagDetails(key="f", value=value, reason="condition_match")
        exposures.record(details, user, None)

    see("a")
    see("a")
    see("b")
    see("a")  # refreshes "a", so "b" is now the oldest
    see("c")  # evicts "b"
    see("a")
    see("b")  # forgotten, so sent again
    see("a", "variant")  # another value is another exposure
    see("a", None)  # no answer, no exposure
    assert [d for _, d, _ in captured.events] == ["a", "b", "c", "b", "a"]

    def failing(*_: Any) -> None:
        raise RuntimeError("queue full")

    flaky = Exposures(failing)
    flaky.record(FlagDetails(key="f", value=True, reason="x"), "a", None)  # doesn't raise
    flaky._capture = captured  # a later read retries: the failed one was not remembered
    flaky.record(FlagDetails(key="f", value=True, reason="x"), "a", None)
    assert len(captured.events) == 6
