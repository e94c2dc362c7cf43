"""HTTP API of the churn service: none yet, only the router the service mounts (scores and
model endpoints come with the billing read contract)."""

from __future__ import annotations

from litestar import Router

router = Router(path="/api/churn", route_handlers=[])
