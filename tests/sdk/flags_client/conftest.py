from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devflow_sdk._flags_manager import FlagOptions, FlagsManager
from devflow_sdk._http import Transport

from tests.sdk.flags_client.proxy import Proxy
from tests.sdk.flags_client.support import Captured, ManagerFactory


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
