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
from services.ingest.storage import partitions_of, prepare
from services.ingest.tasks import periodic

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _consumers(ctx: Context) -> list[ConsumerSpec]:
    return writer_consumers(ctx, Writer(ctx, partitions_of(ctx)))


@contextlib.asynccontextmanager
async def _lifespan(ctx: Context) -> AsyncIterator[None]:
    # Lifespans run before consumers start: a writer's partitions exist before it inserts. The
    # api role stores nothing and leaves upkeep to the writers.
    if ctx.role != "api":
        await prepare(ctx)
    yield


SERVICE = Service(
    name="ingest",
    router=router,
    # REPLAY too: $snapshot events received here are published to it even when the replay
    # service runs elsewhere or later (its declaration is the same, from schemas.replay).
    streams=[StreamSpec(STREAM, ["events.>"]), StreamSpec(replay.STREAM, replay.SUBJECTS)],
    consumers=_consumers,
    lifespan=_lifespan,
    periodic=periodic,
    settings=IngestConfig,
)
