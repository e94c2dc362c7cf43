"""``devflow rebuild flags``: recompute the flag projection from the log alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from services.flags import repo

if TYPE_CHECKING:
    from services.flags.repo import Conn


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild found: the flags in the log and the keys whose projection differed."""

    flags: int
    # Keys whose live row differed from the log's (missing, extra or different), before rebuild.
    differences: list[str]


async def rebuild(
    conn: Conn, project_id: int | None = None, *, apply: bool = True
) -> RebuildReport:
    """Compare the live projection with the one the log yields; replace it when ``apply``.

    Runs in one transaction holding the project's write lock(s), so no change lands between
    the read of the log and the replacement.
    """
    async with conn.transaction():
        await repo.lock_revisions(conn)
        rebuilt = await repo.select_rebuilt(conn, project_id)
        live: list[repo.FlagRow] = []
        projects = {f.project_id for f in rebuilt} if project_id is None else {project_id}
        for pid in sorted(projects):
            live.extend(await repo.select_flags(conn, pid, archived=True))
        if project_id is None:
            for pid in await repo.select_projected_projects(conn):
                if pid not in projects:
                    live.extend(await repo.select_flags(conn, pid, archived=True))
        differences = _differences(live, rebuilt)
        if apply and differences:
            await repo.delete_projection(conn, project_id)
            for flag in rebuilt:
                await repo.upsert_flag(conn, flag)
            for pid in {f.project_id for f in [*live, *rebuilt]}:
                await repo.bump_revision(conn, pid)
    return RebuildReport(flags=len(rebuilt), differences=differences)


def _differences(live: list[repo.FlagRow], rebuilt: list[repo.FlagRow]) -> list[str]:
    by_id = {f.id: f for f in live}
    out = []
    for flag in rebuilt:
        current = by_id.pop(flag.id, None)
        if current is None or msgspec.structs.asdict(current) != msgspec.structs.asdict(flag):
            out.append(f"{flag.project_id}/{flag.key}")
    out.extend(f"{f.project_id}/{f.key}" for f in by_id.values())
    return sorted(out)
