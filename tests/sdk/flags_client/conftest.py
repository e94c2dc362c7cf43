from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devflow_sdk._flags_manager import FlagOptions, FlagsManager
from devflow_sdk._http import Transport

from tests.sdk.flags_client.proxy import Proxy


class Captured:
    """What the manager handed to its capture callback (the client's event queue)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, event: str, distinct_id: str, properties: dict[str, Any]) -> None:
        self.events.append((event, distinct_id, properties))


ManagerFactory = Callable[..., FlagsManager]


@pytest.fixture
def make_manager() -> Iterator[ManagerFactory]:
    """Build FlagsManagers (each with its own transport); all are shut down after the test."""
    made: list[tuple[FlagsManager, Transport]] = []

    def make(
        host: str,
        project: Any,
        *,
        secret: bool = True,
        capture: Callable[[str, str, dict[str, Any]], None] | None = None,
        **options: Any,
    ) -> FlagsManager:
        transport = Transport(host, timeout=5.0)
        manager = FlagsManager(
            token=project.token,
            host=host,
            secret_key=project.secret_key if secret else None,
            transport=transport,
            capture=capture or Captured(),
            options=FlagOptions(**options),
        )
        made.append((manager, transport))
        return manager

    yield make
    for manager, transport in made:
        manager.shutdown()
        transport.close()


@pytest.fixture
def proxy_to() -> Iterator[Callable[[str], Proxy]]:
    proxies: list[Proxy] = []

    def make(upstream: str) -> Proxy:
        proxy = Proxy(upstream)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
