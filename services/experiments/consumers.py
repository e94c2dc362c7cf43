"""NATS consumers of the experiments service: the flag log, kept for ``as_of`` reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from schemas.flags import FlagChanged, FlagsMessage
from services.core.bus import ConsumerSpec, PoisonMessage
from services.experiments import repo

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nats.aio.msg import Msg

    from services.core.service import Context

_decoder = msgspec.json.Decoder(FlagsMessage)


def consumers(ctx: Context) -> list[ConsumerSpec]:
    """The durable consumer that copies flag changes into the experiments' flag log."""

    async def handle(msgs: Sequence[Msg]) -> None:
        """Store the batch's flag versions (the consumer handler)."""
        await store_flag_versions(ctx, msgs)

    return [
        ConsumerSpec(
            stream="CONTROL",
            durable="experiments-flags",
            filter_subject="flags.changed.>",
            handler=handle,
        )
    ]


async def store_flag_versions(ctx: Context, msgs: Sequence[Msg]) -> None:
    """Store each flag change of the batch as a version; other flags messages are skipped.

    One transaction per batch; a redelivered version is ignored (one row per flag and
    version), so at-least-once delivery stores each version once. An undecodable message is
    poison.
    """
    changes = []
    for msg in msgs:
        try:
            message = _decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PoisonMessage(msg, f"not a flags message: {exc}") from None
        if isinstance(message, FlagChanged):
            changes.append(message)
    if not changes:
        return
    async with ctx.pool.connection() as conn, conn.transaction():
        for c in changes:
            await repo.insert_flag_version(
                conn, c.project_id, c.flag_id, c.key, c.version, c.definition, c.changed_at
            )
