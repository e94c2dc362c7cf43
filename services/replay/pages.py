"""Player pages (placeholder router until the pages land)."""

from __future__ import annotations

from litestar import Router

router = Router(path="/replays", route_handlers=[])
