"""Session recordings on the ``REPLAY`` stream, and the replay API's bodies.

Both capture paths publish here: the replay service's own ``POST /s`` and the ingest service, which
routes the ``$snapshot`` events it receives on ``/e``, ``/batch`` … to ``replay.<project>`` instead
of storing them as events (both through ``services.core.capture.recordings``). A message is one
:class:`SnapshotBatch` encoded as JSON, zstd-compressed when that makes it smaller than
:data:`COMPRESS_ABOVE` bytes would be worth (see :func:`encode`): recordings compress ten to fifty
times, and NATS refuses messages over its ``max_payload``.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import Any

import msgspec
import zstandard

STREAM = "REPLAY"
SUBJECTS = ["replay.>"]
SNAPSHOT_EVENT = "$snapshot"
# Messages above this size are zstd-compressed before publishing.
COMPRESS_ABOVE = 8 * 1024
# A decompressed message is never larger than the request it came from (20 MB) plus its envelope.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def subject(project_id: int) -> str:
    return f"replay.{project_id}"


class Snapshot(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ``$snapshot`` event: a slice of one browser window's rrweb recording."""

    uuid: str
    session_id: str
    distinct_id: str
    timestamp: datetime
    # ``$snapshot_data`` exactly as sent: a list of rrweb events (posthog-js today, our SDK), one
    # rrweb event (old posthog-js) or a legacy ``{"chunk_id", "data": base64 gzip …}`` piece.
    data: msgspec.Raw
    window_id: str | None = None
    current_url: str | None = None
    snapshot_bytes: int | None = None
    lib: str | None = None


class SnapshotBatch(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    tag="replay.snapshots",
    tag_field="type",
):
    """Published on ``replay.<project>``: the snapshots of one request, or one session's share."""

    project_id: int
    received_at: datetime
    snapshots: list[Snapshot]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SnapshotBatch)


def encode(batch: SnapshotBatch, level: int = 3) -> bytes:
    """The message payload: JSON, zstd-compressed above :data:`COMPRESS_ABOVE` bytes."""
    raw = _encoder.encode(batch)
    if len(raw) <= COMPRESS_ABOVE:
        return raw
    return zstandard.ZstdCompressor(level=level).compress(raw)


def decode(payload: bytes) -> SnapshotBatch:
    """Inverse of :func:`encode`; raises ``ValueError`` (or msgspec's errors) on a bad payload."""
    if payload[:4] == _ZSTD_MAGIC:
        try:
            payload = zstandard.ZstdDecompressor().decompress(
                payload, max_output_size=MAX_MESSAGE_BYTES
            )
        except zstandard.ZstdError as exc:
            raise ValueError(f"bad zstd payload: {exc}") from None
    return _decoder.decode(payload)


# -- HTTP bodies of the replay API ---------------------------------------------------------------


class ReplayOut(msgspec.Struct, frozen=True):
    """A recording's metadata (``GET /api/replays/{session_id}`` and the list)."""

    session_id: str
    distinct_id: str
    person_id: str | None
    start_time: datetime
    end_time: datetime
    duration_ms: int
    active_ms: int
    first_url: str | None
    urls: list[str]
    click_count: int
    keypress_count: int
    console_error_count: int
    size_bytes: int
    raw_bytes: int
    chunk_count: int
    event_count: int
    quarantined_chunks: int
    window_ids: list[str]


class ReplayList(msgspec.Struct, frozen=True):
    results: list[ReplayOut]
    # Pass it back as ``?cursor=`` for the next page; None on the last page.
    next: str | None


class ReplaySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PUT /api/replays/settings``: how long the project's recordings are kept."""

    retention_days: int


class SessionEvent(msgspec.Struct, frozen=True):
    uuid: str
    event: str
    distinct_id: str
    timestamp: datetime
    properties: dict[str, Any]


class SessionEvents(msgspec.Struct, frozen=True):
    """``GET /api/replays/{session_id}/events``: the session's analytics events, oldest first."""

    results: list[SessionEvent]
    # True when the session has more events than were returned (the limit).
    truncated: bool
