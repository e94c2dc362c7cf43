from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devflow_sdk import FlagOptions, FlagsManager

from tests.sdk.flags_client.proxy import Proxy
from tests.sdk.flags_client.support import Captured, ManagerFactory


@pytest.fixture
def make_manager() -> Iterator[ManagerFactory]:
    """Build FlagsManagers through the public constructor; all are shut down after the test."""
    made: list[FlagsManager] = []

    def make(
        host: str,
        project: Any,
        *,
        secret: bool = True,
        capture: Callable[[str, str, dict[str, Any]], None] | None = None,
        **options: Any,
    ) -> FlagsManager:
        manager = FlagsManager(
            project.token,
            host,
            project.secret_key if secret else None,
            options=FlagOptions(**options),
            capture=capture or Captured(),
            timeout=5.0,
        )
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.shutdown()


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
