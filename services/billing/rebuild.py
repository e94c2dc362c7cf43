"""``devflow rebuild billing``: recompute the projection from ``stripe_events`` alone.

The rebuilt projection is the live one's definition: the same apply code run over the log
(the order does not matter, see :mod:`services.billing.projection`). The comparison and the
replacement happen in one transaction holding the projection's lock, so no batch lands between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from services.billing import projection
from services.billing.repo import log as log_repo
from services.billing.repo import projection as repo

if TYPE_CHECKING:
    from services.billing.repo import Conn


@dataclass(frozen=True)
class RebuildReport:
    rows: int
    # "<project>/<table>/<key>" of each row that was missing, extra or different before.
    differences: list[str]


async def rebuild(
    conn: Conn, project_id: int | None = None, *, apply: bool = True
) -> RebuildReport:
    """Compare the live projection with the one the log yields; replace it when ``apply``."""
    rows = 0
    differences: list[str] = []
    async with conn.transaction():
        projects = [project_id] if project_id is not None else await log_repo.select_projects(conn)
        for pid in projects:
            await repo.lock(conn, pid)
            live = await repo.snapshot(conn, pid)
            # A savepoint: with --check the replacement is rolled back once compared.
            async with conn.transaction() as replacing:
                await repo.delete_projection(conn, pid)
                await projection.apply(conn, await log_repo.select_project_events(conn, pid))
                rebuilt = await repo.snapshot(conn, pid)
                if not apply:
                    raise psycopg.Rollback(replacing)
            rows += sum(len(v) for v in rebuilt.values())
            differences.extend(_differences(pid, live, rebuilt))
    return RebuildReport(rows=rows, differences=sorted(differences))


def _differences(
    project_id: int, live: dict[str, list[Any]], rebuilt: dict[str, list[Any]]
) -> list[str]:
    out: list[str] = []
    for table, key in repo.TABLES:
        before = {r[key]: r for r in live[table]}
        after = {r[key]: r for r in rebuilt[table]}
        out.extend(
            f"{project_id}/{table}/{k}"
            for k in sorted(before.keys() | after.keys())
            if before.get(k) != after.get(k)
        )
    return out
