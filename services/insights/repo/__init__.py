"""SQL of the insights service: its settings table, and queries over ingest's events read only
through the read contract (``analytics.*_v1`` views).

Query statements vary with the question, so they are composed from the fixed fragments of
:mod:`.fragments`; every value (project, event names, property keys, filter values, times, the
time zone) is a bound parameter collected by :class:`Params`, never part of the SQL text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    Conn = AsyncConnection[tuple[Any, ...]]


class Params:
    """Bound parameters of one composed statement, named ``p0``, ``p1`` ..."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        """The placeholder of a new parameter holding ``value``."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s"
