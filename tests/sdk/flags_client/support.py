"""Helpers shared by the SDK flags tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devflow_sdk import FlagsManager


class Captured:
    """What the manager handed to its capture callback (the client's event queue)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, event: str, distinct_id: str, properties: dict[str, Any]) -> None:
        self.events.append((event, distinct_id, properties))


ManagerFactory = Callable[..., FlagsManager]
