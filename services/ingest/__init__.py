"""Ingest: PostHog-compatible capture, the events writer and the persons projection."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from services.core.bus import ConsumerSpec, StreamSpec
from services.core.service import Context, Service
from services.ingest.api import router
from services.ingest.consumers import STREAM, Writer, writer_consumers
from services.ingest.storage import Partitions, maintenance

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _consumers(ctx: Context) -> list[ConsumerSpec]:
    return writer_consumers(ctx, Writer(ctx))


@contextlib.asynccontextmanager
async def _lifespan(ctx: Context) -> AsyncIterator[None]:
    if ctx.role == "api":
        yield
        return
    async with maintenance(ctx, Partitions(ctx)):
        yield


SERVICE = Service(
    name="ingest",
    router=router,
    streams=[StreamSpec(STREAM, ["events.>"])],
    consumers=_consumers,
    lifespan=_lifespan,
)
