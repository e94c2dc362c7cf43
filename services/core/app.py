"""The app factory: compose any subset of services into one Litestar application."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException

from services.core import metrics
from services.core.errors import DomainError
from services.core.http import (
    core_router,
    domain_error_handler,
    http_error_handler,
    internal_error_handler,
)
from services.core.runtime import running

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    import msgspec
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from services.core.service import Service
    from services.core.settings import Settings

# Capture requests may be 20 MB after decompression; the compressed body can't be larger.
MAX_BODY_BYTES = 20 * 1024 * 1024 + 1024


def create_app(
    settings: Settings,
    services: Sequence[Service],
    role: str = "all",
    configs: Mapping[type[msgspec.Struct], msgspec.Struct] | None = None,
) -> Litestar:
    """One Litestar app serving ``services`` (their settings in ``configs``, or read from the
    environment when the app starts)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        """Run the services' start-up and shutdown around the app, sharing the context."""
        async with running(settings, services, role, configs) as ctx:
            app.state.ctx = ctx
            yield

    # A worker serves only the kernel's endpoints: health, readiness and its metrics.
    routers = [s.router for s in services if s.router is not None] if role != "worker" else []
    return Litestar(
        route_handlers=[core_router, *routers],
        lifespan=[lifespan],
        exception_handlers={
            DomainError: domain_error_handler,
            HTTPException: http_error_handler,
            Exception: internal_error_handler,
        },
        cors_config=CORSConfig(allow_origins=["*"], allow_headers=["*"], max_age=86400),
        middleware=[_metrics_middleware],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        logging_config=None,
        debug=False,
    )


def _metrics_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        """Count and time HTTP requests by method, route template and status."""
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            """Note the response status on its way out."""
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("path_template") or "unmatched"
            method = str(scope.get("method", "GET"))
            metrics.HTTP_REQUESTS.labels(method, route, str(status[0])).inc()
            metrics.HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)

    return middleware
