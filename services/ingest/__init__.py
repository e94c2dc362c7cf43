"""Ingest: PostHog-compatible capture, the events writer and the persons projection."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from schemas import replay
from services.core.bus import ConsumerSpec, StreamSpec
from services.core.service import Context, Service
from services.ingest.api import router
from services.ingest.config import IngestConfig
from services.ingest.consumers import STREAM, Writer, writer_consumers
from services.ingest.storage import Partitions, maintenance

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _partitions(ctx: Context) -> Partitions:
    # One view of the partitions per process, so the writer sees what maintenance drops.
    return ctx.state_or(Partitions, lambda: Partitions(ctx))


def _consumers(ctx: Context) -> list[ConsumerSpec]:
    return writer_consumers(ctx, Writer(ctx, _partitions(ctx)))


@contextlib.asynccontextmanager
async def _lifespan(ctx: Context) -> AsyncIterator[None]:
    if ctx.role == "api":
        yield
        return
    async with maintenance(ctx, _partitions(ctx)):
        yield


SERVICE = Service(
    name="ingest",
    router=router,
    # REPLAY too: $snapshot events received here are published to it even when the replay
    # service runs elsewhere or later (its declaration is the same, from schemas.replay).
    streams=[StreamSpec(STREAM, ["events.>"]), StreamSpec(replay.STREAM, replay.SUBJECTS)],
    consumers=_consumers,
    lifespan=_lifespan,
    settings=IngestConfig,
)
