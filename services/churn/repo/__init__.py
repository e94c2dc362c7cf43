"""SQL of the churn service, read only through ingest's analytics.*_v1 read contract:

- :mod:`.features`: point-in-time activity features per (person, snapshot time).
"""

from __future__ import annotations

from services.churn.repo._conn import Conn

__all__ = ["Conn"]
