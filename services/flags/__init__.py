"""Flags: event-sourced feature flags, PostHog-compatible evaluation, live definitions."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from services.core import db
from services.core.service import Context, Service
from services.flags.api import router
from services.flags.config import FlagsConfig
from services.flags.consumers import consumers
from services.flags.definitions import Hub
from services.flags.state import FlagsState
from services.flags.subjects import SubjectCache
from services.flags.tasks import jobs, periodic

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def _lifespan(ctx: Context) -> AsyncIterator[None]:
    hub = Hub(ctx)
    assert ctx.settings.database_url  # the runtime refuses to start without one
    size = ctx.settings_of(FlagsConfig).read_pool_max or ctx.settings.db_pool_max
    # Evaluation reads in autocommit: one round trip per request, no COMMIT.
    pool = await db.open_pool(ctx.settings.database_url, 1, size, autocommit=True)
    subjects = SubjectCache()
    ctx.set_state(FlagsState(hub=hub, read_pool=pool, subjects=subjects))
    await ctx.bus.subscribe("persons.changed.>", subjects.on_persons_changed)
    await ctx.bus.subscribe("flags.traits.>", subjects.on_traits_changed)
    await hub.start()
    try:
        yield
    finally:
        await hub.stop()
        await pool.close()


SERVICE = Service(
    name="flags",
    router=router,
    consumers=consumers,
    lifespan=_lifespan,
    jobs=jobs,
    periodic=periodic,
    settings=FlagsConfig,
)
