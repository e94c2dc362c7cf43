"""Publishing recordings (``$snapshot`` events) to the REPLAY stream.

Both the replay service (``POST /s``) and the ingest service (``$snapshot`` events on the
capture endpoints) publish them; the messages and their subject are ``schemas.replay``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import replay

if TYPE_CHECKING:
    from datetime import datetime

    from services.core.service import Context

# Room left in a NATS message for its headers.
PAYLOAD_HEADROOM = 16 * 1024


async def publish(
    ctx: Context, project_id: int, now: datetime, snapshots: list[replay.Snapshot]
) -> None:
    """Publish and wait for each JetStream ack. Raises ``replay.SnapshotTooLarge``, before
    anything is published, when one snapshot cannot fit a message even compressed."""
    messages = replay.messages(project_id, now, snapshots, ctx.bus.max_payload - PAYLOAD_HEADROOM)
    for msg_id, payload in messages:
        await ctx.bus.publish(
            replay.subject(project_id),
            payload,
            msg_id=msg_id,
            timeout_s=ctx.settings.publish_timeout_s,
        )
