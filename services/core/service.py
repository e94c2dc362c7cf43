"""What a service is: a Router, its NATS streams and consumers, its jobs, and its lifespan hooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar import Router

    from services.core.bus import Bus, ConsumerSpec, StreamSpec
    from services.core.db import Pool
    from services.core.jobs import Job, Jobs, Periodic
    from services.core.projects import ProjectDirectory
    from services.core.settings import Settings


@dataclass
class Context:
    """Everything a running service may use; one per process, built by the runtime."""

    settings: Settings
    pool: Pool
    bus: Bus
    projects: ProjectDirectory
    storage_mode: str
    jobs: Jobs
    role: str = "all"
    # Objects a service shares between its lifespan and its consumers, keyed "<service>.<name>".
    state: dict[str, Any] = field(default_factory=dict)
    # Set when the HTTP server starts shutting down, before it waits for open connections:
    # long-lived responses (event streams) end on it so the process can exit promptly.
    draining: asyncio.Event = field(default_factory=asyncio.Event)


Lifespan = Callable[["Context"], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Service:
    name: str
    router: Router | None = None
    streams: list[StreamSpec] = field(default_factory=list)
    consumers: Callable[[Context], list[ConsumerSpec]] | None = None
    lifespan: Lifespan | None = None
    # Background jobs (dramatiq actors) and periodic jobs; see services.core.jobs.
    jobs: Callable[[Context], list[Job]] | None = None
    periodic: Callable[[Context], list[Periodic]] | None = None
