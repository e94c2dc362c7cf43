"""What a service is: a Router, its NATS streams and consumers, its jobs, and its lifespan hooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

if TYPE_CHECKING:
    from litestar import Router

    from services.core.bus import Bus, ConsumerSpec, StreamSpec
    from services.core.db import Pool
    from services.core.jobs import Job, Jobs, Periodic
    from services.core.projects import ProjectDirectory
    from services.core.settings import Settings


T = TypeVar("T")
C = TypeVar("C", bound=msgspec.Struct)


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
    # Each composed service's settings Struct, by its class (see Service.settings).
    configs: dict[type[Any], Any] = field(default_factory=dict)
    # Set when the HTTP server starts shutting down, before it waits for open connections:
    # long-lived responses (event streams) end on it so the process can exit promptly.
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    # Objects a service shares between its lifespan, consumers and handlers, by their class.
    _state: dict[type[Any], Any] = field(default_factory=dict)

    def settings_of(self, cls: type[C]) -> C:
        """A composed service's settings (read at start-up): ``ctx.settings_of(ReplayConfig)``."""
        value = self.configs.get(cls)
        if not isinstance(value, cls):
            raise LookupError(f"no {cls.__name__} in this process: is its service composed?")
        return value

    def set_state(self, value: object) -> None:
        """Share ``value`` under its class; a service keeps one object per class."""
        self._state[type(value)] = value

    def state_of(self, cls: type[T]) -> T:
        """The object a service shared with :meth:`set_state`: ``ctx.state_of(FlagsState)``."""
        value = self._state.get(cls)
        if not isinstance(value, cls):
            raise LookupError(f"no {cls.__name__} shared yet: its service's lifespan sets it")
        return value

    def state_or(self, cls: type[T], make: Callable[[], T]) -> T:
        """The shared ``cls`` object, made by ``make`` and shared the first time it is asked."""
        value = self._state.get(cls)
        if not isinstance(value, cls):
            value = make()
            self._state[cls] = value
        return value


Lifespan = Callable[["Context"], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Service:
    """What a service contributes to a process: routes, streams, consumers, jobs, settings."""

    name: str
    router: Router | None = None
    streams: list[StreamSpec] = field(default_factory=list)
    consumers: Callable[[Context], list[ConsumerSpec]] | None = None
    lifespan: Lifespan | None = None
    # Background jobs (dramatiq actors) and periodic jobs; see services.core.jobs.
    jobs: Callable[[Context], list[Job]] | None = None
    periodic: Callable[[Context], list[Periodic]] | None = None
    # Its settings: a frozen Struct whose field ``x`` is read from ``<ENV_PREFIX>X`` (a class
    # variable, default ``DEVFLOW_``) at start-up; handlers get it by ``ctx.settings_of(cls)``.
    settings: type[msgspec.Struct] | None = None
