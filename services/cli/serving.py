"""Serving composed services: the HTTP server, headless workers, and how a process stops."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import TYPE_CHECKING, Any

from services.core import logs, telemetry
from services.core.errors import StartupError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import msgspec

    from services.core.service import Service
    from services.core.settings import Settings


def sigterm_like_ctrl_c() -> None:
    """Make SIGTERM (what Docker, systemd and Kubernetes send) stop a command the way Ctrl-C does.

    Python's default for SIGTERM ends the process at once, skipping every ``finally``: the
    embedded PostgreSQL and NATS that ``devflow up`` started would outlive it. uvicorn handles
    the signal during serving, then raises it again once its graceful shutdown is over; this
    handler turns that (and a SIGTERM at any other moment) into the KeyboardInterrupt every
    command already cleans up after.
    """

    def interrupt(signum: int, frame: object) -> None:
        """Raise what Ctrl-C raises."""
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def progress(step: str, started: float) -> None:
    """Print a start-up step with the seconds since ``started``."""
    print(f"  [{time.monotonic() - started:5.1f}s] {step}", flush=True)


def serve(
    settings: Settings,
    services: Sequence[Service],
    configs: dict[type[msgspec.Struct], msgspec.Struct],
    role: str,
    started: float,
) -> None:
    """Serve the composed services over HTTP until Ctrl-C or SIGTERM, then shut down gracefully
    (requests in flight get 15 s); raises StartupError when the server never started."""
    import uvicorn

    from services.core.app import create_app

    logs.configure(settings.log_level, settings.log_format)
    telemetry.configure(settings)
    app = create_app(settings, services, role, configs)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=15,
    )
    server = _draining_server_class()(config)
    _quiet_gc()
    progress(f"serving on http://{settings.host}:{settings.port} (Ctrl-C stops)", started)
    # uvicorn re-raises the Ctrl-C it handled once its graceful shutdown is over.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise StartupError("the HTTP server did not start; see the log above")


def _draining_server_class() -> type[Any]:
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """Tells the app it is shutting down before uvicorn waits for open connections, so
        streams end at once instead of holding the exit for the graceful timeout."""

        async def shutdown(self, sockets: Any = None) -> None:
            """Set ``ctx.draining`` first, then let uvicorn shut down as usual."""
            ctx = getattr(getattr(self.config.app, "state", None), "ctx", None)
            if ctx is not None:
                ctx.draining.set()
            await super().shutdown(sockets)

    return DrainingServer


def _quiet_gc() -> None:
    """Fewer, cheaper collector pauses on the request path (they show up as latency tails).

    Everything imported so far lives as long as the process: freezing it keeps the collector
    from scanning it again, and a higher first threshold lets short-lived request garbage be
    freed by reference counting before a collection runs at all.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def run_headless(
    settings: Settings,
    services: Sequence[Service],
    configs: dict[type[msgspec.Struct], msgspec.Struct],
) -> None:
    """Run the services' consumers and jobs without HTTP (``--role worker`` with no port)."""
    from services.core.runtime import running

    async def body() -> None:
        """Run the worker services until SIGINT or SIGTERM."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with running(settings, services, "worker", configs):
            await stop.wait()

    logs.configure(settings.log_level, settings.log_format)
    telemetry.configure(settings)
    asyncio.run(body())
