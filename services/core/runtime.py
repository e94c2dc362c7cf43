"""Builds a process's :class:`Context` and runs the composed services' lifespans, consumers and
background jobs."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import psycopg

from services.core import db
from services.core.bus import CORE_STREAMS, Bus
from services.core.errors import ConfigError, StartupError
from services.core.jobs import Jobs
from services.core.projects import ProjectDirectory
from services.core.repo.platform import select_storage_mode
from services.core.service import Context, Service
from services.core.settings import read_all

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    import msgspec

    from services.core.settings import Settings

log = logging.getLogger("devflow.runtime")

ROLES = ("all", "api", "worker")


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    services: Sequence[Service],
    role: str = "all",
    configs: Mapping[type[msgspec.Struct], msgspec.Struct] | None = None,
) -> AsyncIterator[Context]:
    """Open pool and bus, declare streams, start lifespans and (unless ``api``) consumers, the
    job worker and the periodic scheduler. Every role can enqueue jobs. ``configs`` are the
    services' settings the CLI read at start-up; read from the environment when not given."""
    if configs is None:
        configs = read_all(s.settings for s in services if s.settings is not None)
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}")
    if not settings.database_url or not settings.nats_url:
        raise ConfigError("DEVFLOW_DATABASE_URL and DEVFLOW_NATS_URL must be set")
    pool = await db.open_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max)
    try:
        try:
            async with pool.connection() as conn:
                storage_mode = await select_storage_mode(conn)
        except psycopg.errors.UndefinedTable:
            raise StartupError(
                "the database is not migrated: run `devflow migrate` first"
            ) from None
        bus = await Bus.connect(settings.nats_url, name=f"{settings.service_name}-{role}")
        jobs = Jobs(pool, settings.database_url)
        try:
            await bus.ensure_streams([*CORE_STREAMS, *(s for svc in services for s in svc.streams)])
            ctx = Context(
                settings=settings,
                pool=pool,
                bus=bus,
                projects=ProjectDirectory(pool),
                storage_mode=storage_mode or "unknown",
                jobs=jobs,
                role=role,
                configs=dict(configs),
            )
            jobs.declare(job for svc in services for job in (svc.jobs(ctx) if svc.jobs else []))
            async with contextlib.AsyncExitStack() as stack:
                for svc in services:
                    if svc.lifespan is not None:
                        await stack.enter_async_context(svc.lifespan(ctx))
                if role in ("all", "worker"):
                    for svc in services:
                        for spec in svc.consumers(ctx) if svc.consumers else []:
                            await bus.start_consumer(spec)
                    periodic = [
                        p for svc in services for p in (svc.periodic(ctx) if svc.periodic else [])
                    ]
                    await jobs.start(ctx, periodic, threads=settings.jobs_threads)
                log.info(
                    "services started",
                    extra={"services": [s.name for s in services], "role": role},
                )
                try:
                    yield ctx
                finally:
                    # Jobs and consumers finish what they hold (commit, then ack) while the pool
                    # and the bus are still open.
                    await jobs.stop()
                    await bus.close()
        finally:
            await jobs.stop()
            await bus.close()
    finally:
        await pool.close()
