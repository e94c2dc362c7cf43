"""Turn a request body from a PostHog SDK into JSON bytes: gzip, base64 form posts, size limits.

PostHog SDKs send bodies several ways: plain JSON; gzip announced by ``Content-Encoding`` or
``?compression=gzip-js``; gzip announced by nothing at all (we sniff the magic bytes); and the
legacy form post ``data=<base64 JSON>``. Decompression is bounded so a small bomb can't expand
without limit.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from urllib.parse import parse_qs

from schemas.api import FieldError
from services.core.errors import DomainError, PayloadTooLarge


class InvalidBody(DomainError):
    title = "Invalid request body"


class BodyTooLarge(PayloadTooLarge):
    title = "Request body too large"


MAX_REQUEST_BYTES = 20 * 1024 * 1024
MAX_EVENT_BYTES = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# Content-Encoding values we can undo; anything else (br, zstd …) is refused by name.
_IDENTITY = ("", "identity")
_INFLATABLE = ("gzip", "x-gzip", "deflate")
_MAX_FORM_FIELDS = 64


def decode_body(
    body: bytes, content_encoding: str, content_type: str, compression: str | None
) -> bytes:
    """Return the JSON payload of a request, or raise a 4xx error saying why not."""
    if not body:
        raise InvalidBody("the request body is empty", [FieldError("body", "empty")])
    compression = (compression or "").lower() or None
    if compression not in (None, "gzip", "gzip-js", "base64"):
        raise InvalidBody(
            f"unsupported compression {compression!r}",
            [FieldError("compression", "must be gzip, gzip-js or base64")],
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
        body = _form_data(body)
    elif compression == "base64":
        body = _b64(body, "body")
    if len(body) > MAX_REQUEST_BYTES:
        raise _too_large()
    return body


def _is_gzip(body: bytes) -> bool:
    return body[:2] == _GZIP_MAGIC


def gunzip(body: bytes) -> bytes:
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


def _form_data(body: bytes) -> bytes:
    # latin-1 both ways maps bytes to characters one to one, so percent-escaped UTF-8 in the
    # value comes back as the same bytes (decoding escapes as UTF-8 would mangle or crash on them).
    try:
        form = parse_qs(
            body.decode("latin-1"),
            keep_blank_values=True,
            max_num_fields=_MAX_FORM_FIELDS,
            encoding="latin-1",
        )
    except ValueError:
        raise InvalidBody(
            "the form has too many fields",
            [FieldError("body", f"more than {_MAX_FORM_FIELDS} form fields")],
        ) from None
    values = form.get("data")
    if not values:
        raise InvalidBody("the form has no data field", [FieldError("data", "missing")])
    raw = values[0].encode("latin-1")
    if raw[:1] in (b"{", b"["):
        return raw
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


def _too_large() -> BodyTooLarge:
    return BodyTooLarge(
        f"the request exceeds {MAX_REQUEST_BYTES} bytes after decompression",
        [FieldError("body", f"larger than {MAX_REQUEST_BYTES} bytes")],
    )
