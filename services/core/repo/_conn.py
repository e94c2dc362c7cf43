"""The connection types the kernel's repo functions take."""

from __future__ import annotations

from typing import Any, TypeAlias

from psycopg import AsyncConnection, Connection

Conn: TypeAlias = AsyncConnection[Any]
SyncConn: TypeAlias = Connection[Any]
