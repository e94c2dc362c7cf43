"""The one JSON body decoder (services.core.bodies.decode_json), in process: size, depth, NUL,
field paths and malformed input each give a 4xx naming the field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schemas.flags import CohortIn, FlagIn, ScheduleIn
from services.core.bodies import (
    BodyTooLarge,
    InvalidBody,
    decode_json,
    too_deep,
)
from services.core.errors import DomainError


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    n: int


class Outer(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    items: list[Inner] = []
    extra: dict[str, Any] = {}


class Refused(DomainError):
    title = "Refused"


def refusal(body: bytes, into: Any = Outer, **kw: Any) -> DomainError:
    with pytest.raises(DomainError) as exc:
        decode_json(body, into, **kw)
    return exc.value


def fields(error: DomainError) -> list[str]:
    return [e.field for e in error.errors]


def test_a_valid_body_becomes_the_struct() -> None:
    out = decode_json(b'{"name": "a", "items": [{"n": 1}]}', Outer)
    assert out == Outer(name="a", items=[Inner(1)])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b'{"items": []}', "name", "missing required field"),
        (b'{"name": 1}', "name", "Expected `str`, got `int`"),
        (b'{"name": "a", "items": [{"n": 1}, {"n": "2"}]}', "items[1].n", "Expected `int`"),
        (b'{"name": "a", "items": [{"n": 1, "m": 2}]}', "items[0].m", "unknown field"),
        (b'{"name": "a", "items": [{}]}', "items[0].n", "missing required field"),
        (b'{"name": "a", "colour": 1}', "colour", "unknown field"),
        (b"[1, 2]", "body", "Expected `object`, got `array`"),
        (b'"text"', "body", "Expected `object`"),
    ],
)
def test_a_validation_error_names_the_field_path(body: bytes, field: str, words: str) -> None:
    error = refusal(body)
    assert isinstance(error, InvalidBody)
    assert error.status == 400
    assert fields(error) == [field]
    assert words in error.errors[0].reason
    assert "$" not in error.errors[0].reason


@pytest.mark.parametrize("body", [b"{broken", b"", b"   ", b'{"name": "a"', b'{"name": "a"} x'])
def test_malformed_json_is_a_400_on_the_body(body: bytes) -> None:
    error = refusal(body)
    assert error.status == 400
    assert fields(error) == ["body"]


def test_the_size_limit_is_per_call() -> None:
    body = b'{"name": "' + b"x" * 2000 + b'"}'
    assert decode_json(body, Outer).name == "x" * 2000
    error = refusal(body, limit=1000)
    assert isinstance(error, BodyTooLarge)
    assert error.status == 413
    assert fields(error) == ["body"]
    assert decode_json(body, Outer, limit=len(body)).name  # the limit itself is allowed


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deep_nesting_is_refused_before_decoding(opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    deep = b'{"name": "a", "extra": {"x": ' + opener * 100_000 + b"1" + closer * 100_000 + b"}}"
    error = refusal(deep, limit=10 * 1024 * 1024)  # no RecursionError
    assert error.status == 400
    assert fields(error) == ["body"]
    assert "nest" in error.errors[0].reason


def test_the_depth_limit_counts_levels_exactly() -> None:
    def nested(depth: int) -> bytes:
        return b"[" * depth + b"]" * depth

    assert not too_deep(nested(64), 64)
    assert too_deep(nested(65), 64)
    assert not too_deep(b"[" + b"[]," * 1000 + b"[]]", 64)  # wide is fine
    # Brackets inside strings (escaped quotes too) are text, not nesting.
    text = b'["' + b"[" * 200 + b'\\"' + b"{" * 200 + b'"]'
    assert not too_deep(text, 64)
    assert decode_json(text, list[str]) == ["[" * 200 + '"' + "{" * 200]
    # Exactly the limit decodes.
    value = decode_json(b'{"name": "a", "extra": {"x": ' + nested(62) + b"}}", Outer)
    assert value.extra["x"]


@pytest.mark.parametrize(
    "body",
    [b"[" * 100, b"[" * 100_000, b"]" * 10 + b"[" * 100_000, b'{"a":' * 100_000, b"[1]]]" * 1000],
)
def test_unbalanced_brackets_are_a_400_never_a_recursion_error(body: bytes) -> None:
    error = refusal(body, dict[str, Any], limit=10 * 1024 * 1024)
    assert error.status == 400
    assert fields(error) == ["body"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "a\\u0000b"}', "name"),
        (b'{"name": "a", "extra": {"k": ["ok", "\\u0000"]}}', "extra.k[1]"),
        (b'{"name": "a", "extra": {"bad\\u0000key": 1}}', "extra.bad\\u0000key"),
    ],
)
def test_a_nul_character_is_refused_naming_the_field(body: bytes, field: str) -> None:
    error = refusal(body)
    assert error.status == 400
    assert fields(error) == [field]
    assert "NUL" in error.errors[0].reason


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    assert decode_json(b'{"name": "a\\\\u0000"}', Outer).name == "a\\u0000"


def test_nul_may_be_allowed_where_nothing_is_stored() -> None:
    assert decode_json(b'{"name": "a\\u0000"}', Outer, allow_nul=True).name == "a\x00"


def test_the_callers_error_class_carries_its_title() -> None:
    error = refusal(b"{", error=Refused)
    assert isinstance(error, Refused)
    assert error.title == "Refused"
    assert isinstance(refusal(b"x" * 10, limit=5, error=Refused), BodyTooLarge)


def test_flag_bodies_are_typed() -> None:
    flag = decode_json(b'{"key": "k", "active": false}', FlagIn)
    assert (flag.key, flag.active, flag.filters) == ("k", False, msgspec.UNSET)
    assert fields(refusal(b'{"key": "k", "actve": true}', FlagIn)) == ["actve"]
    assert fields(refusal(b'{"key": "k", "reason": "' + b"r" * 1001 + b'"}', FlagIn)) == ["reason"]
    assert fields(
        refusal(b'{"run_at": "2030-01-01T00:00:00Z", "change": {"colour": 1}}', ScheduleIn)
    ) == ["change.colour"]
    assert fields(refusal(b'{"run_at": "soon", "change": {}}', ScheduleIn)) == ["run_at"]
    assert fields(refusal(b'{"name": "", "is_static": true}', CohortIn)) == ["name"]
