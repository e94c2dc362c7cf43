"""Undo the ways PostHog SDKs encode a request body, giving back the JSON bytes.

Bodies arrive as plain JSON; gzip announced by ``Content-Encoding`` or ``?compression=gzip-js``;
gzip announced by nothing at all (posthog-js stopped adding the query parameter, so the magic
bytes are sniffed); deflate; the form post ``data=<base64 JSON>`` (``?compression=base64``, what
posthog-js sends from ``sendBeacon``); the raw body in base64; and lz-string's base64
(``compression=lz64``, old posthog-js builds). Decompression is bounded so a small bomb can't
expand without limit. The flags endpoints read their bodies the same way.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from urllib.parse import parse_qs

from schemas.api import FieldError
from services.core.capture.errors import BodyTooLarge, InvalidBody
from services.core.capture.limits import MAX_FORM_FIELDS, MAX_REQUEST_BYTES
from services.core.capture.lzstring import LzStringError, decompress_base64

_GZIP_MAGIC = b"\x1f\x8b"
COMPRESSIONS = ("gzip", "gzip-js", "base64", "lz64")
# Content-Encoding values we can undo; anything else (br, zstd …) is refused by name.
_IDENTITY = ("", "identity")
_INFLATABLE = ("gzip", "x-gzip", "deflate")


def decode_body(
    body: bytes, content_encoding: str, content_type: str, compression: str | None
) -> bytes:
    """Return the JSON payload of a request, or raise a 4xx error saying why not."""
    if not body:
        raise InvalidBody("the request body is empty", [FieldError("body", "empty")])
    compression = (compression or "").lower() or None
    if compression not in (None, *COMPRESSIONS):
        raise InvalidBody(
            f"unsupported compression {compression!r}",
            [FieldError("compression", "must be gzip, gzip-js, base64 or lz64")],
        )
    codings = [c.strip() for c in content_encoding.lower().split(",")]
    codings = [c for c in codings if c not in _IDENTITY]
    if len(codings) > 1 or (codings and codings[0] not in _INFLATABLE):
        raise InvalidBody(
            f"unsupported Content-Encoding {content_encoding!r}",
            [FieldError("Content-Encoding", "must be gzip or deflate")],
        )
    if codings or compression in ("gzip", "gzip-js") or _is_gzip(body):
        body = gunzip(body)
    is_form = "application/x-www-form-urlencoded" in content_type.lower()
    if body.startswith(b"data=") or (is_form and body.lstrip()[:1] not in (b"{", b"[")):
        body = _form_data(body, compression)
    elif compression == "base64":
        body = _b64(body, "body")
    elif compression == "lz64":
        body = _lz64(body, "body")
    if len(body) > MAX_REQUEST_BYTES:
        raise _too_large()
    return body


def _is_gzip(body: bytes) -> bool:
    return body[:2] == _GZIP_MAGIC


def gunzip(body: bytes) -> bytes:
    """Inflate gzip or zlib data, refusing more than :data:`MAX_REQUEST_BYTES` of output."""
    # wbits=47 accepts gzip and zlib headers. max_length stops a bomb after the limit, not before.
    inflater = zlib.decompressobj(wbits=47)
    try:
        out = inflater.decompress(body, MAX_REQUEST_BYTES + 1)
    except zlib.error as exc:
        raise InvalidBody(
            "the body is not valid gzip", [FieldError("body", f"gzip: {exc}")]
        ) from None
    if len(out) > MAX_REQUEST_BYTES or inflater.unconsumed_tail:
        raise _too_large()
    if not inflater.eof:
        raise InvalidBody("the gzip body is truncated", [FieldError("body", "truncated gzip")])
    return out


def _form_data(body: bytes, compression: str | None) -> bytes:
    # latin-1 both ways maps bytes to characters one to one, so percent-escaped UTF-8 in the
    # value comes back as the same bytes (decoding escapes as UTF-8 would mangle or crash on them).
    try:
        form = parse_qs(
            body.decode("latin-1"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            encoding="latin-1",
        )
    except ValueError:
        raise InvalidBody(
            "the form has too many fields",
            [FieldError("body", f"more than {MAX_FORM_FIELDS} form fields")],
        ) from None
    values = form.get("data")
    if not values:
        raise InvalidBody("the form has no data field", [FieldError("data", "missing")])
    raw = values[0].encode("latin-1")
    if raw[:1] in (b"{", b"["):
        return raw
    # Old posthog-js names the compression inside the form as well as in the query.
    if compression == "lz64" or form.get("compression", [""])[0].lower() == "lz64":
        return _lz64(raw, "data")
    decoded = _b64(raw, "data")
    return gunzip(decoded) if _is_gzip(decoded) else decoded


def _b64(raw: bytes, field: str) -> bytes:
    # A form post turns "+" into a space; some clients use the URL-safe alphabet.
    cleaned = raw.strip().replace(b" ", b"+").replace(b"-", b"+").replace(b"_", b"/")
    try:
        return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBody(
            f"{field} is not valid base64", [FieldError(field, "invalid base64")]
        ) from None


def _lz64(raw: bytes, field: str) -> bytes:
    text = raw.decode("latin-1").replace(" ", "+")
    try:
        out = decompress_base64(text, MAX_REQUEST_BYTES)
        return out.encode("utf-8")
    except LzStringError as exc:
        if exc.too_large:
            raise _too_large() from None
        raise InvalidBody(
            f"{field} is not valid lz64", [FieldError(field, f"lz64: {exc}")]
        ) from None


def _too_large() -> BodyTooLarge:
    return BodyTooLarge(
        f"the request exceeds {MAX_REQUEST_BYTES} bytes after decompression",
        [FieldError("body", f"larger than {MAX_REQUEST_BYTES} bytes")],
    )
