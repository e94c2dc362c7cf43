"""Captured ``$snapshot`` events as REPLAY messages: checking them, splitting, publishing.

Both capture paths publish recordings: the replay service's ``POST /s`` and the ingest service,
which receives ``$snapshot`` events on ``/e``, ``/batch`` … and routes them to ``replay.<project>``
instead of storing them as events. Neither imports the other; both use this module. The message
format itself (:class:`schemas.replay.SnapshotBatch`, zstd above a size) is the wire schema's.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from schemas import replay
from schemas.api import FieldError
from services.core.capture.errors import CaptureTooLarge
from services.core.capture.limits import MAX_SESSION_ID_CHARS

if TYPE_CHECKING:
    from datetime import datetime

    import msgspec

    from services.core.service import Context

# Room left in a NATS message for its headers.
PAYLOAD_HEADROOM = 16 * 1024


def session_id_problem(value: Any) -> str | None:
    """Why ``value`` is not a usable ``$session_id``, or None."""
    if not isinstance(value, str) or not value.strip():
        return "missing: every $snapshot event needs a $session_id"
    if len(value) > MAX_SESSION_ID_CHARS:
        return f"longer than {MAX_SESSION_ID_CHARS} characters"
    if "\x00" in value or "/" in value:
        return "must not contain NUL or '/'"
    return None


def data_problem(data: msgspec.Raw) -> str | None:
    """Why ``$snapshot_data`` (the raw JSON sent) can't be a recording, or None.

    It is not decoded here: it travels as the exact bytes the browser sent and the consumer
    decodes it, quarantining what it can't read."""
    raw = bytes(data).strip()
    if raw == b"null":
        return "missing"
    if raw[:1] not in (b"[", b"{") or raw[1:].strip() == b"]":
        return "must be a non-empty list of rrweb events"
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
    window_id: str | None = None,
    current_url: Any = None,
    snapshot_bytes: Any = None,
    lib: Any = None,
) -> replay.Snapshot:
    """A :class:`~schemas.replay.Snapshot` from checked values; optional ones of the wrong type
    are dropped rather than refused (they only label the recording)."""
    return replay.Snapshot(
        uuid=uuid,
        session_id=session_id,
        distinct_id=distinct_id,
        timestamp=timestamp,
        data=data,
        window_id=window_id,
        current_url=_optional_str(current_url),
        snapshot_bytes=_optional_int(snapshot_bytes),
        lib=_optional_str(lib),
    )


class SnapshotTooLarge(ValueError):
    """One snapshot does not fit in a message even alone and compressed."""

    def __init__(self, uuid: str, limit: int) -> None:
        super().__init__(f"snapshot {uuid} exceeds {limit} bytes compressed")
        self.uuid = uuid


def messages(
    project_id: int, received_at: datetime, snapshots: list[replay.Snapshot], limit: int
) -> list[tuple[str, bytes]]:
    """``(Nats-Msg-Id, payload)`` pairs no larger than ``limit`` for ``snapshots``.

    One message for the whole request when it fits; else one per session, each halved until it
    fits. The id is a digest of the project and the snapshots' uuids, so publishing the same
    request twice is dropped by JetStream inside its duplicate window.
    """

    def build(part: list[replay.Snapshot]) -> tuple[str, bytes]:
        """The message id and payload of one batch of snapshots."""
        ids = ",".join(s.uuid for s in part)
        msg_id = hashlib.sha256(f"replay:{project_id}:{ids}".encode()).hexdigest()[:40]
        return msg_id, replay.encode(replay.SnapshotBatch(project_id, received_at, part))

    def split(part: list[replay.Snapshot]) -> list[tuple[str, bytes]]:
        """Messages for ``part``, halved until each fits ``limit``."""
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
    sessions: dict[str, list[replay.Snapshot]] = {}
    for snap in snapshots:
        sessions.setdefault(snap.session_id, []).append(snap)
    return [msg for part in sessions.values() for msg in split(part)]


async def publish(
    ctx: Context, project_id: int, now: datetime, snapshots: list[replay.Snapshot]
) -> None:
    """Publish to ``replay.<project>`` and wait for each JetStream ack. Raises
    :class:`CaptureTooLarge` (413), before anything is published, when one snapshot cannot fit a
    message even compressed."""
    limit = ctx.bus.max_payload - PAYLOAD_HEADROOM
    try:
        batches = messages(project_id, now, snapshots, limit)
    except SnapshotTooLarge as exc:
        raise CaptureTooLarge(
            "a $snapshot event is larger than the broker accepts, even compressed",
            [FieldError("size", str(exc))],
        ) from None
    for msg_id, payload in batches:
        await ctx.bus.publish(
            replay.subject(project_id),
            payload,
            msg_id=msg_id,
            timeout_s=ctx.settings.publish_timeout_s,
        )
