"""Replay: session recordings (PostHog's ``/s``), stored as compressed chunks, and the player."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from schemas import replay
from services.core.bus import StreamSpec
from services.core.service import Context, Service
from services.replay.api import router
from services.replay.config import STATE_KEY, ReplayConfig
from services.replay.consumers import consumers
from services.replay.tasks import periodic

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def _lifespan(ctx: Context) -> AsyncIterator[None]:
    # Read once at start-up; a bad value stops the process with a clear message.
    ctx.state[STATE_KEY] = ReplayConfig.from_env()
    yield


SERVICE = Service(
    name="replay",
    router=router,
    streams=[StreamSpec(replay.STREAM, replay.SUBJECTS)],
    consumers=consumers,
    lifespan=_lifespan,
    periodic=periodic,
)
