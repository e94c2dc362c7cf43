"""The connection type every repo function takes."""

from __future__ import annotations

from typing import Any, TypeAlias

from psycopg import AsyncConnection

Conn: TypeAlias = AsyncConnection[tuple[Any, ...]]
