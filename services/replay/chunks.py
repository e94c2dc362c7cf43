"""From ``$snapshot`` events to stored chunks: decoding, the recording's summary, compression.

A chunk is the fresh snapshots of one session and window that arrived in one message: their rrweb
events, sorted by timestamp (stable), as one JSON array compressed into one zstd frame. Events are
never re-encoded unless they must be decompressed first: each stays the exact bytes the browser
sent. While decoding, the chunk's summary is taken (first/last timestamps, activity, clicks,
keypresses, console errors, URLs), so session metadata never needs the data back.

Accepted shapes of ``$snapshot_data``:

- a list of rrweb events ``{type, data, timestamp}`` (posthog-js today, our SDK);
- one rrweb event (old posthog-js, one per ``$snapshot`` event);
- posthog-js's compressed events (``"cv": "2024-10"``: a full snapshot's ``data``, or a mutation's
  ``adds``/``removes``/``texts``/``attributes``, gzipped and sent as a latin-1 string), which are
  expanded here so any rrweb player can play them;
- the legacy chunked form ``{"chunk_id", "chunk_index", "chunk_count", "data": base64 gzip}``
  (UTF-16 or UTF-8 JSON inside) when every piece of a chunk is in the same message.

Anything else is quarantined with the reason, never stored as a chunk.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import zstandard

if TYPE_CHECKING:
    from collections.abc import Sequence

    from schemas.replay import Snapshot

# rrweb's EventType and IncrementalSource numbers.
FULL_SNAPSHOT, INCREMENTAL, META, PLUGIN = 2, 3, 4, 6
MUTATION, MOUSE_INTERACTION, INPUT, STYLE_SHEET_RULE = 0, 2, 5, 8
CLICK = 2
# User activity, as PostHog counts it: mouse move, mouse interaction, scroll, viewport resize,
# input, touch move, media interaction, drag.
ACTIVE_SOURCES = frozenset({1, 2, 3, 4, 5, 6, 7, 12})
# Each interaction counts as activity until the next one, for at most this long.
ACTIVITY_CAP_MS = 5_000
MAX_URLS = 100
MAX_URL_CHARS = 2048
MAX_INFLATED = 64 * 1024 * 1024
COMPRESSED_VERSION = "2024-10"


class Invalid(Exception):
    """Why a snapshot's data cannot be stored; it goes to quarantine with this reason."""


class _Head(msgspec.Struct):
    type: int
    timestamp: int | float
    data: msgspec.Raw = msgspec.Raw(b"null")
    cv: str | None = None


class _Incremental(msgspec.Struct):
    source: int | None = None
    type: int | None = None
    id: int | None = None
    text: Any = None
    isChecked: Any = None  # noqa: N815 - rrweb's name
    userTriggered: Any = None  # noqa: N815 - rrweb's name


class _Meta(msgspec.Struct):
    href: Any = None


class _Plugin(msgspec.Struct):
    plugin: Any = None
    payload: Any = None


class _LegacyPiece(msgspec.Struct):
    chunk_id: str
    chunk_index: int
    chunk_count: int
    data: str


_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_head = msgspec.json.Decoder(_Head)
_incremental = msgspec.json.Decoder(_Incremental)
_meta = msgspec.json.Decoder(_Meta)
_plugin = msgspec.json.Decoder(_Plugin)
_legacy = msgspec.json.Decoder(_LegacyPiece)
_DETAILS: dict[int, msgspec.json.Decoder[Any]] = {
    INCREMENTAL: _incremental,
    META: _meta,
    PLUGIN: _plugin,
}
_any = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


@dataclass
class Summary:
    """What session metadata needs from a chunk."""

    first_ms: int = 0
    last_ms: int = 0
    event_count: int = 0
    first_active_ms: int | None = None
    last_active_ms: int | None = None
    active_ms: int = 0
    click_count: int = 0
    keypress_count: int = 0
    console_error_count: int = 0
    has_full_snapshot: bool = False
    urls: list[str] = field(default_factory=list)


@dataclass
class Chunk:
    """A chunk as stored: its events as one zstd-compressed JSON array, and its summary; its id
    is the smallest uuid of the snapshots it holds."""

    chunk_id: str
    window_id: str | None
    distinct_id: str
    summary: Summary
    raw_bytes: int
    data: bytes  # zstd


@dataclass
class Rejected:
    """A snapshot that can't become part of a chunk, with the reason; it goes to quarantine."""

    chunk_id: str
    distinct_id: str
    snapshot: Snapshot
    reason: str


@dataclass
class Prepared:
    """A message's chunks and rejected snapshots, ready to store."""

    chunks: list[Chunk] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


# -- decoding ------------------------------------------------------------------------------------


# An rrweb event as the summary needs it: (timestamp, exact bytes, type, decoded detail).
Event = tuple[int, bytes, int, "_Incremental | _Meta | _Plugin | None"]


def _events_of_raw(raw: bytes) -> list[Event]:
    """The rrweb events of a JSON array of them (or of one), checked and ready to summarise."""
    stripped = raw.lstrip()
    try:
        items = _raw_list.decode(raw) if stripped[:1] == b"[" else [msgspec.Raw(raw)]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Invalid(f"not JSON: {exc}") from None
    out: list[Event] = []
    for i, item in enumerate(items):
        try:
            head = _head.decode(item)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Invalid(f"event {i} is not an rrweb event: {exc}") from None
        body = bytes(item)
        if head.cv is not None:
            body, head = _expand(body, head, i)
        out.append((int(head.timestamp), body, head.type, _detail(head, i)))
    return out


def _detail(head: _Head, i: int) -> _Incremental | _Meta | _Plugin | None:
    decoder = _DETAILS.get(head.type)
    if decoder is None and head.type != FULL_SNAPSHOT:
        return None
    if bytes(head.data)[:1] != b"{":
        raise Invalid(f"event {i} (type {head.type}): data must be an object")
    if decoder is None:
        return None
    try:
        detail: _Incremental | _Meta | _Plugin = decoder.decode(head.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Invalid(f"event {i} (type {head.type}): {exc}") from None
    return detail


def _unzip_latin1(value: Any, where: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{where}: compressed field is not a string")
    try:
        inflated = _inflate(value.encode("latin-1"))
        return _any.decode(inflated)
    except (UnicodeEncodeError, msgspec.DecodeError) as exc:
        raise Invalid(f"{where}: {exc}") from None


def _expand(body: bytes, head: _Head, i: int) -> tuple[bytes, _Head]:
    """A posthog-js compressed event (``cv``) with its gzipped fields expanded."""
    where = f"event {i}"
    if head.cv != COMPRESSED_VERSION:
        raise Invalid(f"{where}: unknown compressed event version {head.cv!r}")
    event = _any.decode(body)
    event.pop("cv", None)
    data = event.get("data")
    if head.type == FULL_SNAPSHOT and isinstance(data, str):
        event["data"] = _unzip_latin1(data, where)
    elif head.type == INCREMENTAL and isinstance(data, dict):
        source = data.get("source")
        if source == STYLE_SHEET_RULE:
            keys: tuple[str, ...] = ("adds", "removes")
        elif source == MUTATION and "texts" in data:
            keys = ("adds", "removes", "texts", "attributes")
        else:
            keys = ()
        for key in keys:
            data[key] = _unzip_latin1(data.get(key), f"{where}.data.{key}")
    encoded = _encoder.encode(event)
    return encoded, _head.decode(encoded)


def _inflate(blob: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=47)
    try:
        out = inflater.decompress(blob, MAX_INFLATED + 1)
    except zlib.error as exc:
        raise Invalid(f"bad gzip: {exc}") from None
    if len(out) > MAX_INFLATED or inflater.unconsumed_tail:
        raise Invalid(f"inflates to more than {MAX_INFLATED} bytes")
    if not inflater.eof:
        raise Invalid("truncated gzip")
    return out


def _legacy_json(pieces: list[_LegacyPiece]) -> bytes:
    """The JSON text of a complete legacy chunk (base64 of gzip of UTF-16 or UTF-8 JSON)."""
    joined = "".join(p.data for p in sorted(pieces, key=lambda p: p.chunk_index))
    try:
        blob = base64.b64decode(joined, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("legacy chunk: invalid base64") from None
    text = _inflate(blob)
    if text[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return text.decode("utf-16", "surrogatepass").encode("utf-8", "surrogatepass")
        except UnicodeError as exc:
            raise Invalid(f"legacy chunk: bad UTF-16: {exc}") from None
    return text


# -- the summary ---------------------------------------------------------------------------------


def _summarise(events: list[Event], current_url: str | None, summary: Summary) -> None:
    last_text: dict[int, str] = {}
    urls = summary.urls
    if current_url:
        _add_url(urls, current_url)
    for ts, _, kind, detail in events:
        summary.event_count += 1
        if kind == FULL_SNAPSHOT:
            summary.has_full_snapshot = True
        elif isinstance(detail, _Meta):
            if isinstance(detail.href, str):
                _add_url(urls, detail.href)
        elif isinstance(detail, _Plugin):
            payload = detail.payload
            if (
                isinstance(detail.plugin, str)
                and detail.plugin.startswith("rrweb/console")
                and isinstance(payload, dict)
                and payload.get("level") == "error"
            ):
                summary.console_error_count += 1
        elif isinstance(detail, _Incremental):
            if detail.source in ACTIVE_SOURCES:
                if summary.last_active_ms is not None:
                    summary.active_ms += min(max(ts - summary.last_active_ms, 0), ACTIVITY_CAP_MS)
                else:
                    summary.first_active_ms = ts
                summary.last_active_ms = ts
            if detail.source == MOUSE_INTERACTION and detail.type == CLICK:
                summary.click_count += 1
            elif detail.source == INPUT and _is_keypress(detail, last_text):
                summary.keypress_count += 1


def _is_keypress(inc: _Incremental, last_text: dict[int, str]) -> bool:
    """An Input event that changed a text value, as typing does (see docs/replay.md)."""
    if not isinstance(inc.text, str) or inc.userTriggered is False or inc.isChecked is True:
        return False
    if inc.id is not None:
        if last_text.get(inc.id) == inc.text:
            return False
        last_text[inc.id] = inc.text
    return True


def _add_url(urls: list[str], url: str) -> None:
    url = url[:MAX_URL_CHARS]
    if url and url not in urls and len(urls) < MAX_URLS and "\x00" not in url:
        urls.append(url)


# -- preparing a message's snapshots ------------------------------------------------------------


def prepare(snapshots: Sequence[Snapshot], level: int) -> Prepared:
    """Chunks (one per session and window) and rejections for the fresh snapshots of a message.

    CPU-bound: callers run it in a thread.
    """
    out = Prepared()
    groups: dict[tuple[str, str | None], list[Snapshot]] = {}
    for snap in snapshots:
        groups.setdefault((snap.session_id, snap.window_id), []).append(snap)
    compressor = zstandard.ZstdCompressor(level=level)
    for (_, window_id), group in groups.items():
        decoded = _decode_group(group, out)
        if not decoded:
            continue
        events: list[Event] = []
        urls_first: str | None = None
        for snap, evs in decoded:
            events.extend(evs)
            urls_first = urls_first or snap.current_url
        events.sort(key=lambda e: e[0])  # stable: equal timestamps keep the order sent
        summary = Summary(first_ms=events[0][0], last_ms=events[-1][0])
        _summarise(events, urls_first, summary)
        body = b"[" + b",".join(e[1] for e in events) + b"]"
        owners = [snap for snap, _ in decoded]
        out.chunks.append(
            Chunk(
                chunk_id=min(s.uuid for s in owners),
                window_id=window_id,
                distinct_id=owners[-1].distinct_id,
                summary=summary,
                raw_bytes=len(body),
                data=compressor.compress(body),
            )
        )
    return out


def _decode_group(group: list[Snapshot], out: Prepared) -> list[tuple[Snapshot, list[Event]]]:
    decoded: list[tuple[Snapshot, list[Event]]] = []
    legacy: dict[str, list[tuple[Snapshot, _LegacyPiece]]] = {}
    for snap in group:
        raw = bytes(snap.data)
        try:
            if raw.lstrip()[:1] == b"{" and b'"chunk_id"' in raw:
                piece = _legacy.decode(raw)
                legacy.setdefault(piece.chunk_id, []).append((snap, piece))
                continue
            events = _events_of_raw(raw)
        except (Invalid, msgspec.DecodeError, msgspec.ValidationError) as exc:
            out.rejected.append(Rejected(snap.uuid, snap.distinct_id, snap, str(exc)))
            continue
        if events:
            decoded.append((snap, events))
    for chunk_id, pieces in legacy.items():
        count = pieces[0][1].chunk_count
        try:
            indexes = sorted({p.chunk_index for _, p in pieces})
            if indexes != list(range(count)):
                raise Invalid(
                    f"legacy chunk {chunk_id}: {len(indexes)} of {count} pieces in this message"
                )
            events = _events_of_raw(_legacy_json([p for _, p in pieces]))
        except Invalid as exc:
            for snap, _ in pieces:
                out.rejected.append(Rejected(snap.uuid, snap.distinct_id, snap, str(exc)))
            continue
        if events:
            decoded.append((pieces[0][0], events))
    return decoded


def timed_events(body: bytes) -> list[tuple[int, bytes]]:
    """``(timestamp, event bytes)`` of a stored chunk's JSON array, in stored order."""
    return [(ts, raw) for ts, raw, _, _ in _events_of_raw(body)]
