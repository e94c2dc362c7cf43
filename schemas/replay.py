"""Session recordings on the ``REPLAY`` stream, and the replay API's bodies.

Both capture paths publish here: the replay service's own ``POST /s`` and the ingest service, which
routes the ``$snapshot`` events it receives on ``/e``, ``/batch`` … to ``replay.<project>`` instead
of storing them as events. Neither imports the other; they share this module. A message is one
:class:`SnapshotBatch` encoded as JSON, zstd-compressed when that makes it smaller than
:data:`COMPRESS_ABOVE` bytes would be worth (see :func:`encode`): recordings compress ten to fifty
times, and NATS refuses messages over its ``max_payload``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import Any

import msgspec
import zstandard

from schemas.api import FieldError

STREAM = "REPLAY"
SUBJECTS = ["replay.>"]
SNAPSHOT_EVENT = "$snapshot"
MAX_SESSION_ID_CHARS = 200
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


class SnapshotTooLarge(ValueError):
    """One snapshot does not fit in a message even alone and compressed."""

    def __init__(self, uuid: str, limit: int) -> None:
        super().__init__(f"snapshot {uuid} exceeds {limit} bytes compressed")
        self.uuid = uuid


def messages(
    project_id: int, received_at: datetime, snapshots: list[Snapshot], limit: int
) -> list[tuple[str, bytes]]:
    """``(Nats-Msg-Id, payload)`` pairs no larger than ``limit`` for ``snapshots``.

    One message for the whole request when it fits; else one per session, each halved until it
    fits. The id is a digest of the project and the snapshots' uuids, so publishing the same
    request twice is dropped by JetStream inside its duplicate window.
    """

    def build(part: list[Snapshot]) -> tuple[str, bytes]:
        ids = ",".join(s.uuid for s in part)
        msg_id = hashlib.sha256(f"replay:{project_id}:{ids}".encode()).hexdigest()[:40]
        return msg_id, encode(SnapshotBatch(project_id, received_at, part))

    def split(part: list[Snapshot]) -> list[tuple[str, bytes]]:
        built = build(part)
        if len(built[1]) <= limit:
            return [built]
        if len(part) == 1:
            raise SnapshotTooLarge(part[0].uuid, limit)
        half = len(part) // 2
        return split(part[:half]) + split(part[half:])

    whole = build(snapshots)
    if len(whole[1]) <= limit:
        return [whole]
    sessions: dict[str, list[Snapshot]] = {}
    for snap in snapshots:
        sessions.setdefault(snap.session_id, []).append(snap)
    return [msg for part in sessions.values() for msg in split(part)]


# -- validation shared by both capture paths -----------------------------------------------------


def session_id_problem(value: Any) -> str | None:
    """Why ``value`` is not a usable ``$session_id``, or None."""
    if not isinstance(value, str) or not value.strip():
        return "missing: every $snapshot event needs a $session_id"
    if len(value) > MAX_SESSION_ID_CHARS:
        return f"longer than {MAX_SESSION_ID_CHARS} characters"
    if "\x00" in value or "/" in value:
        return "must not contain NUL or '/'"
    return None


def properties_problem(properties: dict[str, Any]) -> FieldError | None:
    """What is wrong with a decoded ``$snapshot`` event's properties (no index), or None."""
    reason = session_id_problem(properties.get("$session_id"))
    if reason:
        return FieldError("$session_id", reason)
    window_id = properties.get("$window_id")
    if window_id is not None and (not isinstance(window_id, str) or "\x00" in window_id):
        return FieldError("$window_id", "must be a string without NUL")
    data = properties.get("$snapshot_data")
    if not isinstance(data, list | dict):
        return FieldError("$snapshot_data", "must be a list of rrweb events")
    if isinstance(data, list) and not data:
        return FieldError("$snapshot_data", "is empty")
    return None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value and "\x00" not in value else None


def _optional_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def snapshot(
    *,
    uuid: str,
    distinct_id: str,
    timestamp: datetime,
    session_id: str,
    data: msgspec.Raw,
    window_id: Any = None,
    current_url: Any = None,
    snapshot_bytes: Any = None,
    lib: Any = None,
) -> Snapshot:
    """A :class:`Snapshot` from checked values; optional ones of the wrong type are dropped."""
    return Snapshot(
        uuid=uuid,
        session_id=session_id,
        distinct_id=distinct_id,
        timestamp=timestamp,
        data=data,
        window_id=_optional_str(window_id),
        current_url=_optional_str(current_url),
        snapshot_bytes=_optional_int(snapshot_bytes),
        lib=_optional_str(lib),
    )


def from_properties(
    uuid: str, distinct_id: str, timestamp: datetime, properties: dict[str, Any]
) -> Snapshot:
    """The snapshot of a decoded event whose properties passed :func:`properties_problem`."""
    return snapshot(
        uuid=uuid,
        distinct_id=distinct_id,
        timestamp=timestamp,
        session_id=properties["$session_id"],
        data=msgspec.Raw(_encoder.encode(properties["$snapshot_data"])),
        window_id=properties.get("$window_id"),
        current_url=properties.get("$current_url"),
        snapshot_bytes=properties.get("$snapshot_bytes"),
        lib=properties.get("$lib"),
    )


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
