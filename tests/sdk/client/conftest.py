from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devflow_sdk import Client

from tests.sdk.client.front import Front

ClientFactory = Callable[..., Client]

# Short timings so tests do not wait on batching; each test may override any option.
FAST = {"flush_interval": 0.05, "max_backoff": 1.0, "timeout": 10.0, "shutdown_timeout": 10.0}


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Clients with fast timings; every one is shut down after the test."""
    made: list[Client] = []

    def make(host: str, token: str, **options: Any) -> Client:
        client = Client(token, host=host, **{**FAST, **options})
        made.append(client)
        return client

    yield make
    for client in made:
        client.shutdown(timeout=5)


@pytest.fixture
def front_of() -> Iterator[Callable[..., Front]]:
    fronts: list[Front] = []

    def make(upstream: str | None = None) -> Front:
        front = Front(upstream)
        fronts.append(front)
        return front

    yield make
    for front in fronts:
        front.close()


@pytest.fixture(autouse=True)
def _no_stray_sender_threads() -> Iterator[None]:
    """A shut-down client leaves no thread behind (the sender exits once it is done)."""
    yield
    left = [t for t in threading.enumerate() if t.name == "devflow-sdk-sender" and t.is_alive()]
    for thread in left:
        thread.join(10)
    assert not [t for t in left if t.is_alive()]
