"""The one decoder of JSON request bodies: bytes to a typed Struct for every handler.

Raw bytes become a typed Struct (or any msgspec type), with a size limit per call site, a nesting
limit checked before decoding (so deep JSON never reaches a RecursionError), NUL characters
refused (PostgreSQL text and jsonb can't store them) and msgspec's errors turned into a 400
naming the field path. PostHog's body encodings (gzip, base64 forms, lz64) are undone first by
the capture protocol, :mod:`services.core.capture.encoding`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from schemas.api import FieldError
from services.core.errors import DomainError, PayloadTooLarge

if TYPE_CHECKING:
    from litestar import Request


class InvalidBody(DomainError):
    """A request body that can't be read or decoded into its type (400)."""

    title = "Invalid request body"


class BodyTooLarge(PayloadTooLarge):
    """A request body over its endpoint's size limit (413)."""

    title = "Request body too large"


MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# The depth scan (too_deep): brackets only, "{}" read as "[]", walked by runs.
_TO_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_RUNS = re.compile(rb"\[+|\]+")
_OPEN = ord("[")
# A replace pass is worth it while it drops at least 1/8 of what is left.
_WORTHWHILE = 8
_NUL_ESCAPE = b"\\u0000"
_AT = re.compile(r" - at `\$\.?(.*)`$")
_NAMED = re.compile(r"(?:missing required|unknown) field `([^`]+)`")
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_T = TypeVar("_T")


def decode_json(
    body: bytes,
    into: type[_T],
    *,
    limit: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    allow_nul: bool = False,
    error: type[DomainError] = InvalidBody,
) -> _T:
    """Decode a JSON body into ``into``; raise ``error`` (400) or :class:`BodyTooLarge` (413)
    naming the field at fault. ``limit`` is in bytes."""
    if len(body) > limit:
        raise BodyTooLarge(
            f"the body exceeds {limit} bytes", [FieldError("body", f"larger than {limit} bytes")]
        )
    if not body.strip():
        raise error("the body is empty", [FieldError("body", "empty")])
    if too_deep(body, max_depth):
        raise error(
            f"the body nests deeper than {max_depth} levels",
            [FieldError("body", f"nested deeper than {max_depth} levels")],
        )
    if not allow_nul and _NUL_ESCAPE in body:
        where = _nul_path(body)
        if where is not None:
            raise error(
                "the body contains a NUL character",
                [FieldError(where or "body", "contains a NUL character (\\u0000)")],
            )
    decoder = _decoders.get(into)
    if decoder is None:
        decoder = _decoders[into] = msgspec.json.Decoder(into)
    try:
        result: _T = decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise error("the body is not valid", [field_error(exc)]) from None
    except msgspec.DecodeError as exc:
        raise error("the body is not valid JSON", [FieldError("body", str(exc))]) from None
    return result


async def read_json(
    request: Request[Any, Any, Any],
    into: type[_T],
    *,
    limit: int = MAX_JSON_BYTES,
    error: type[DomainError] = InvalidBody,
) -> _T:
    """The request's JSON body as ``into`` (see :func:`decode_json`)."""
    return decode_json(await request.body(), into, limit=limit, error=error)


def field_error(exc: msgspec.ValidationError) -> FieldError:
    """msgspec's "… - at `$.a.b[0]`" as a :class:`FieldError` on ``a.b[0]`` (or the named
    missing or unknown field inside it), with the reason."""
    text = str(exc)
    match = _AT.search(text)
    where = match.group(1) if match else ""
    named = _NAMED.search(text)
    if named:  # the object's own field, not the path to the object
        where = f"{where}.{named.group(1)}" if where else named.group(1)
    return FieldError(where or "body", _AT.sub("", text))


def too_deep(body: bytes, max_depth: int) -> bool:
    """Whether the JSON text nests objects and arrays deeper than ``max_depth``.

    No recursion, and little per-byte Python work: strings are cut out and only brackets kept;
    passes of ``bytes.replace`` drop the innermost pairs while they shrink it much (a wide,
    shallow body goes entirely); what is left is walked run by run, stopping as soon as the
    depth passes the limit."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    brackets = _STRING.sub(b"", body).translate(_TO_BRACKETS, _NOT_BRACKETS)
    dropped = 0
    while brackets and dropped < max_depth:
        shorter = brackets.replace(b"[]", b"")
        removed = len(brackets) - len(shorter)
        if not removed:
            break
        brackets, dropped = shorter, dropped + 1
        if removed * _WORTHWHILE < len(brackets) + removed:
            break  # passes that drop little cost more than walking what is left
    # Each level dropped is under every bracket left; unbalanced text ("]]][[[") counts as deep
    # as its unclosed opens, which the decoder would otherwise recurse through.
    depth = 0
    for run in _RUNS.finditer(brackets):
        length = run.end() - run.start()
        if brackets[run.start()] == _OPEN:
            depth += length
            if depth + dropped > max_depth:
                return True
        else:
            depth = max(0, depth - length)
    return False


def _nul_path(body: bytes) -> str | None:
    """The path of a string (value or key) holding a NUL, or None when the escape was only
    text (``\\\\u0000``)."""
    try:
        stack: list[tuple[str, Any]] = [("", msgspec.json.decode(body))]
    except msgspec.DecodeError:
        return None  # the typed decode reports it
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else key
                if "\x00" in key:
                    return child.replace("\x00", "\\u0000")
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None
