"""Admin use cases of the flags service: flags, their history and schedules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.api import FieldError
from schemas.flags import (
    FlagChangeOut,
    FlagHistory,
    FlagIn,
    FlagList,
    FlagOut,
    FlagPatch,
    ScheduleIn,
    ScheduleList,
    ScheduleOut,
)
from services.flags import changes, repo
from services.flags.diff import diff
from services.flags.errors import (
    FlagNotFound,
    InvalidFlag,
    InvalidRequest,
    ScheduleNotFound,
    StateConflict,
    VersionConflict,
)

if TYPE_CHECKING:
    from services.core.service import Context

APPLY_SCHEDULE = "flags.apply_schedule"
_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')


def flag_out(flag: repo.FlagRow) -> FlagOut:
    """The API form of a flag row."""
    return FlagOut(
        id=flag.id,
        key=flag.key,
        name=flag.name,
        active=flag.active,
        filters=flag.filters,
        version=flag.version,
        created_at=flag.created_at,
        updated_at=flag.updated_at,
        archived=flag.archived,
        ensure_experience_continuity=flag.ensure_experience_continuity,
    )


def parse_if_match(value: str | None) -> int | None:
    """The expected version from ``If-Match`` (``"3"``, ``3`` or ``W/"3"``); None when absent."""
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise InvalidRequest(
            "If-Match must carry the flag's version",
            [FieldError("If-Match", 'expected the version as an ETag, e.g. "3"')],
        )
    return int(match.group(1))


async def list_flags(ctx: Context, project_id: int, *, archived: bool) -> FlagList:
    """The project's flags, archived ones included when ``archived``."""
    async with ctx.pool.connection() as conn:
        flags = await repo.select_flags(conn, project_id, archived=archived)
    return FlagList(results=[flag_out(f) for f in flags], count=len(flags))


async def get_flag(ctx: Context, project_id: int, key: str) -> FlagOut:
    """The project's flag with this key; :class:`FlagNotFound` otherwise."""
    async with ctx.pool.connection() as conn:
        flag = await repo.select_flag(conn, project_id, key)
    if flag is None:
        raise _not_found(key)
    return flag_out(flag)


async def flags_as_of(
    ctx: Context, project_id: int, as_of: datetime, key: str | None = None
) -> list[FlagOut]:
    """The definitions in force at ``as_of``, from the log (archived flags left out)."""
    async with ctx.pool.connection() as conn:
        rows = await repo.select_as_of(conn, project_id, as_of, key)
    out = []
    for change, first_at in rows:
        d = change.definition
        if d.get("archived"):
            continue
        out.append(
            FlagOut(
                id=change.flag_id,
                key=change.key,
                name=d.get("name") or "",
                active=bool(d.get("active")),
                filters=d.get("filters") or {},
                version=change.version,
                created_at=first_at,
                updated_at=change.created_at,
                ensure_experience_continuity=bool(d.get("ensure_experience_continuity")),
            )
        )
    return out


async def create_flag(ctx: Context, project_id: int, body: FlagIn, actor: str) -> FlagOut:
    """Validate and create a flag at version 1, then publish the change.

    The project lock is taken before the key check, so two creates of one key cannot both pass.
    """
    definition = {
        "key": body.key,
        "name": body.name,
        "active": body.active,
        "archived": False,
        "filters": changes.DEFAULT_FILTERS if body.filters is msgspec.UNSET else body.filters,
        "ensure_experience_continuity": body.ensure_experience_continuity,
    }
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await changes.lock_project(conn, project_id)
        if isinstance(definition["key"], str):
            existing = await repo.select_flag(conn, project_id, definition["key"])
            if existing is not None:
                state = "an archived flag" if existing.archived else "a flag"
                raise InvalidFlag(
                    "the key is taken",
                    [FieldError("key", f"{state} with this key exists (id {existing.id})")],
                )
        committed = await changes.commit(
            conn,
            project_id,
            revision=revision,
            before=None,
            definition=definition,
            kind="create",
            actor=actor,
            reason=body.reason,
        )
    await changes.publish(ctx, committed)
    return flag_out(committed.flag)


async def update_flag(
    ctx: Context,
    project_id: int,
    key: str,
    body: FlagPatch,
    *,
    expected_version: int | None,
    actor: str,
) -> FlagOut:
    """Apply a partial update as a new version and publish it.

    :class:`VersionConflict` when ``expected_version`` is stale, :class:`StateConflict` when the
    flag is archived; a patch that changes nothing returns the flag as it is.
    """
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await changes.lock_project(conn, project_id)
        flag = await _current(conn, project_id, key, expected_version)
        if flag.archived:
            raise StateConflict(
                "the flag is archived; restore it before changing it",
                [FieldError("key", "archived")],
            )
        before = changes.definition_of(flag)
        after = changes.apply_patch(before, msgspec.to_builtins(body))
        kind = changes.kind_of(before, after)
        if kind is None:
            return flag_out(flag)  # nothing changed: no new version
        committed = await changes.commit(
            conn,
            project_id,
            revision=revision,
            before=flag,
            definition=after,
            kind=kind,
            actor=actor,
            reason=body.reason,
        )
    await changes.publish(ctx, committed)
    return flag_out(committed.flag)


async def set_archived(
    ctx: Context,
    project_id: int,
    key: str,
    *,
    archived: bool,
    expected_version: int | None,
    actor: str,
    reason: str,
) -> FlagOut:
    """Archive or restore a flag as a new version; a no-op when it already is.

    Archiving is refused while an active flag depends on it.
    """
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await changes.lock_project(conn, project_id)
        flag = await _current(conn, project_id, key, expected_version)
        if flag.archived == archived:
            return flag_out(flag)
        if archived:
            await _refuse_if_depended_on(conn, project_id, flag)
        definition = {**changes.definition_of(flag), "archived": archived}
        committed = await changes.commit(
            conn,
            project_id,
            revision=revision,
            before=flag,
            definition=definition,
            kind="archive" if archived else "restore",
            actor=actor,
            reason=reason,
        )
    await changes.publish(ctx, committed)
    return flag_out(committed.flag)


async def _refuse_if_depended_on(conn: repo.Conn, project_id: int, flag: repo.FlagRow) -> None:
    names = {str(flag.id), flag.key}
    for other in await repo.select_flags(conn, project_id, archived=False):
        for group in other.filters.get("groups") or []:
            for prop in group.get("properties") or []:
                if prop.get("type") == "flag" and str(prop.get("key")) in names:
                    raise StateConflict(
                        f"flag {other.key!r} depends on this flag; change it first",
                        [FieldError("key", f"depended on by {other.key}")],
                    )


async def _current(
    conn: repo.Conn, project_id: int, key: str, expected_version: int | None
) -> repo.FlagRow:
    flag = await repo.select_flag(conn, project_id, key, for_update=True)
    if flag is None:
        raise _not_found(key)
    if expected_version is not None and expected_version != flag.version:
        raise VersionConflict(
            f"the flag is at version {flag.version}, not {expected_version}",
            [FieldError("If-Match", f"current version is {flag.version}")],
            headers={"ETag": f'"{flag.version}"'},
        )
    return flag


async def history(ctx: Context, project_id: int, key: str) -> FlagHistory:
    """Every version of the flag, oldest first, each with its diff from the previous one."""
    async with ctx.pool.connection() as conn:
        rows = await repo.select_changes(conn, project_id, key)
    if not rows:
        raise _not_found(key)
    out = []
    previous: dict[str, Any] = {}
    for row in rows:
        out.append(
            FlagChangeOut(
                id=row.id,
                flag_id=row.flag_id,
                key=row.key,
                version=row.version,
                kind=row.kind,
                actor=row.actor,
                reason=row.reason,
                created_at=row.created_at,
                definition=row.definition,
                diff=diff(previous, row.definition),
            )
        )
        previous = row.definition
    return FlagHistory(results=out)


def _not_found(key: str) -> FlagNotFound:
    return FlagNotFound(f"no flag with key {key!r}", [FieldError("key", "not found")])


# --- scheduled changes ---------------------------------------------------------------------------


def schedule_out(row: repo.ScheduleRow) -> ScheduleOut:
    """The API form of a scheduled change row."""
    return ScheduleOut(
        id=row.id,
        flag_key=row.flag_key,
        run_at=row.run_at,
        change=row.change,
        status=row.status,
        actor=row.actor,
        reason=row.reason,
        created_at=row.created_at,
        applied_version=row.applied_version,
        error=row.error,
        finished_at=row.finished_at,
    )


def _parse_schedule(body: ScheduleIn) -> tuple[datetime, dict[str, Any], str]:
    change: dict[str, Any] = msgspec.to_builtins(body.change)
    if not change:
        raise InvalidFlag(
            "the scheduled change is not valid",
            [FieldError("change", 'required: an object such as {"active": false}')],
        )
    run_at = body.run_at
    return (run_at if run_at.tzinfo else run_at.replace(tzinfo=UTC)), change, body.reason


async def create_schedule(
    ctx: Context, project_id: int, key: str, body: ScheduleIn, actor: str
) -> ScheduleOut:
    """Store a scheduled change and enqueue the job that applies it at ``run_at``."""
    run_at, change, reason = _parse_schedule(body)
    async with ctx.pool.connection() as conn, conn.transaction():
        flag = await repo.select_flag(conn, project_id, key)
        if flag is None:
            raise _not_found(key)
        # Refuse now what could not be applied later (it is checked again when it runs).
        after = changes.apply_patch(changes.definition_of(flag), change)
        try:
            await changes.validate(conn, project_id, after, flag.id)
        except InvalidFlag as exc:
            raise InvalidFlag(
                "the scheduled change would make the flag invalid",
                [FieldError(f"change.{e.field}", e.reason) for e in exc.errors],
            ) from None
        schedule_id = await repo.insert_schedule(
            conn, project_id, flag.id, run_at, change, actor, reason
        )
        row = await repo.select_schedule(conn, schedule_id)
        # In the same transaction: the schedule and its job exist together or not at all.
        delay = max(0.0, (run_at - changes.now()).total_seconds())
        await ctx.jobs.enqueue(
            APPLY_SCHEDULE, {"schedule_id": schedule_id}, delay_s=delay, conn=conn
        )
    assert row is not None
    return schedule_out(row)


async def list_schedules(ctx: Context, project_id: int, key: str) -> ScheduleList:
    """The flag's scheduled changes; :class:`FlagNotFound` for an unknown key."""
    async with ctx.pool.connection() as conn:
        flag = await repo.select_flag(conn, project_id, key)
        if flag is None:
            raise _not_found(key)
        rows = await repo.select_schedules(conn, project_id, flag.id)
    return ScheduleList(results=[schedule_out(r) for r in rows])


async def cancel_schedule(ctx: Context, project_id: int, key: str, schedule_id: int) -> ScheduleOut:
    """Cancel a pending scheduled change; its job then finds it not pending and skips it."""
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await repo.select_schedule(conn, schedule_id, for_update=True)
        if row is None or row.project_id != project_id or row.flag_key != key:
            raise ScheduleNotFound(
                f"no scheduled change {schedule_id} for flag {key!r}",
                [FieldError("schedule_id", "not found")],
            )
        if row.status != "pending":
            raise StateConflict(
                f"the scheduled change is already {row.status}",
                [FieldError("schedule_id", row.status)],
            )
        await repo.finish_schedule(conn, schedule_id, "cancelled", None, None)
        row = await repo.select_schedule(conn, schedule_id)
    assert row is not None
    return schedule_out(row)


async def apply_schedule(ctx: Context, schedule_id: int) -> str:
    """Apply a due scheduled change exactly once; returns what happened (for logs and tests)."""
    committed = None
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await repo.select_schedule(conn, schedule_id, for_update=True)
        if row is None or row.status != "pending":
            return "skipped"
        wait = (row.run_at - changes.now()).total_seconds()
        if wait > 0:
            # Early (a clock step, or a re-sent message): come back when it is due.
            await ctx.jobs.enqueue(
                APPLY_SCHEDULE, {"schedule_id": schedule_id}, delay_s=wait, conn=conn
            )
            return "early"
        revision = await changes.lock_project(conn, row.project_id)
        flag = await repo.select_flag(conn, row.project_id, row.flag_key, for_update=True)
        if flag is None or flag.archived:
            await repo.finish_schedule(conn, schedule_id, "failed", None, "the flag is archived")
            return "failed"
        before = changes.definition_of(flag)
        after = changes.apply_patch(before, row.change)
        kind = changes.kind_of(before, after)
        if kind is None:
            await repo.finish_schedule(conn, schedule_id, "applied", flag.version, None)
            return "applied"
        try:
            async with conn.transaction():  # a savepoint: a refused change still marks the row
                committed = await changes.commit(
                    conn,
                    row.project_id,
                    revision=revision,
                    before=flag,
                    definition=after,
                    kind=kind,
                    actor=row.actor,
                    reason=row.reason or f"scheduled change {schedule_id}",
                )
        except InvalidFlag as exc:
            detail = "; ".join(f"{e.field}: {e.reason}" for e in exc.errors) or exc.detail
            await repo.finish_schedule(conn, schedule_id, "failed", None, detail)
            return "failed"
        await repo.finish_schedule(conn, schedule_id, "applied", committed.flag.version, None)
    await changes.publish(ctx, committed)
    return "applied"
