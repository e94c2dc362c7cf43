"""Cohorts (static lists of distinct ids, or dynamic property groups) and group types."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from devflow_sdk.flags import validate_cohort

from schemas.api import FieldError
from schemas.flags import (
    CohortIn,
    CohortList,
    CohortOut,
    CohortPatch,
    DefinitionsChanged,
    GroupTypeIn,
    GroupTypeList,
    GroupTypeOut,
)
from services.core.errors import Unavailable
from services.flags import repo
from services.flags.errors import CohortNotFound, InvalidRequest, StateConflict

if TYPE_CHECKING:
    from services.core.service import Context

log = logging.getLogger("devflow.flags")
_encoder = msgspec.json.Encoder()
MAX_MEMBERS = 100_000


def cohort_out(row: repo.CohortRow) -> CohortOut:
    """The API form of a cohort row."""
    return CohortOut(
        id=row.id,
        name=row.name,
        description=row.description,
        is_static=row.is_static,
        filters=row.filters,
        count=row.count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check(
    body: CohortIn | CohortPatch, *, is_static: bool | None
) -> tuple[dict[str, Any], list[str] | None]:
    """The fields sent, and the members of a static cohort; ``is_static`` is known on updates
    (types, names and lengths are checked by the body's Struct)."""
    sent: dict[str, Any] = msgspec.to_builtins(body)
    errors = []
    if is_static is not None and sent.get("is_static", is_static) != is_static:
        errors.append(FieldError("is_static", "cannot change once created"))
    static = bool(sent.get("is_static", False)) if is_static is None else is_static
    members: list[str] | None = None
    if static:
        if "filters" in sent:
            errors.append(FieldError("filters", "a static cohort has members, not filters"))
        raw = sent.get("distinct_ids", [] if is_static is None else None)
        if raw is not None:
            if len(raw) > MAX_MEMBERS:
                errors.append(FieldError("distinct_ids", f"at most {MAX_MEMBERS} per request"))
            else:
                members = list(dict.fromkeys(raw))
    else:
        if "distinct_ids" in sent:
            errors.append(FieldError("distinct_ids", "only static cohorts have members"))
        if is_static is None or "filters" in sent:
            filters = sent.get("filters")
            if not isinstance(filters, dict):
                errors.append(FieldError("filters", 'required: {"properties": {...}}'))
            else:
                errors.extend(
                    FieldError(f"filters.{e.path}" if e.path else "filters", e.reason)
                    for e in validate_cohort(filters)
                )
    if errors:
        raise InvalidRequest("the cohort is not valid", errors)
    return sent, members


async def create_cohort(ctx: Context, project_id: int, body: CohortIn) -> CohortOut:
    """Create a cohort (and a static cohort's members) and announce the change."""
    sent, members = _check(body, is_static=None)
    static = body.is_static
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await repo.bump_revision(conn, project_id)
        cohort_id = await repo.insert_cohort(
            conn,
            project_id,
            body.name,
            body.description,
            static,
            None if static else sent["filters"],
        )
        if members:
            await repo.replace_members(conn, project_id, cohort_id, members)
        row = await repo.select_cohort(conn, project_id, cohort_id)
    assert row is not None
    await _announce(ctx, project_id, revision, f"cohort {cohort_id} created")
    return cohort_out(row)


async def update_cohort(
    ctx: Context, project_id: int, cohort_id: int, body: CohortPatch
) -> CohortOut:
    """Apply a partial update to a cohort, replacing a static cohort's members when sent."""
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await repo.bump_revision(conn, project_id)
        row = await _get(conn, project_id, cohort_id)
        sent, members = _check(body, is_static=row.is_static)
        await repo.update_cohort(
            conn,
            cohort_id,
            sent.get("name", row.name),
            sent.get("description", row.description),
            sent.get("filters", row.filters),
        )
        if members is not None:
            await repo.replace_members(conn, project_id, cohort_id, members)
        row = await _get(conn, project_id, cohort_id)
    await _announce(ctx, project_id, revision, f"cohort {cohort_id} updated")
    return cohort_out(row)


async def delete_cohort(ctx: Context, project_id: int, cohort_id: int) -> None:
    """Delete a cohort; refused (409) while an active flag targets it."""
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await repo.bump_revision(conn, project_id)
        await _get(conn, project_id, cohort_id)
        for flag in await repo.select_flags(conn, project_id, archived=False):
            for group in flag.filters.get("groups") or []:
                for prop in group.get("properties") or []:
                    if prop.get("type") == "cohort" and str(prop.get("value")) == str(cohort_id):
                        raise StateConflict(
                            f"flag {flag.key!r} targets this cohort; change it first",
                            [FieldError("id", f"used by flag {flag.key}")],
                        )
        await repo.delete_cohort(conn, cohort_id)
    await _announce(ctx, project_id, revision, f"cohort {cohort_id} deleted")


async def get_cohort(ctx: Context, project_id: int, cohort_id: int) -> CohortOut:
    """One cohort of the project; :class:`CohortNotFound` otherwise."""
    async with ctx.pool.connection() as conn:
        return cohort_out(await _get(conn, project_id, cohort_id))


async def list_cohorts(ctx: Context, project_id: int) -> CohortList:
    """Every cohort of the project."""
    async with ctx.pool.connection() as conn:
        rows = await repo.select_cohorts(conn, project_id)
    return CohortList(results=[cohort_out(r) for r in rows])


async def _get(conn: repo.Conn, project_id: int, cohort_id: int) -> repo.CohortRow:
    row = await repo.select_cohort(conn, project_id, cohort_id)
    if row is None:
        raise CohortNotFound(f"no cohort {cohort_id}", [FieldError("id", "not found")])
    return row


async def set_group_type(
    ctx: Context, project_id: int, index: int, body: GroupTypeIn
) -> GroupTypeOut:
    """Name the group type at ``index`` (0 to 4); a name keeps one index (409 otherwise)."""
    if not 0 <= index <= 4:
        raise InvalidRequest(
            "the group type is not valid",
            [FieldError("group_type_index", "must be between 0 and 4")],
        )
    name = body.group_type
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await repo.bump_revision(conn, project_id)
        mapping = await repo.select_group_types(conn, project_id)
        taken = [i for i, n in mapping.items() if n == name and i != str(index)]
        if taken:
            raise StateConflict(
                f"group type {name!r} already has index {taken[0]}",
                [FieldError("group_type", f"already index {taken[0]}")],
            )
        await repo.upsert_group_type(conn, project_id, index, name)
    await _announce(ctx, project_id, revision, f"group type {index} set")
    return GroupTypeOut(group_type_index=index, group_type=name)


async def list_group_types(ctx: Context, project_id: int) -> GroupTypeList:
    """The project's group types by index."""
    async with ctx.pool.connection() as conn:
        mapping = await repo.select_group_types(conn, project_id)
    return GroupTypeList(
        results=[GroupTypeOut(group_type_index=int(i), group_type=n) for i, n in mapping.items()]
    )


async def _announce(ctx: Context, project_id: int, revision: int, what: str) -> None:
    # A notification only: instances that miss it catch up through their revision checks.
    payload = _encoder.encode(
        DefinitionsChanged(project_id=project_id, revision=revision, what=what)
    )
    try:
        await ctx.bus.publish(
            f"flags.changed.{project_id}", payload, msg_id=f"definitions-{project_id}-{revision}"
        )
    except Unavailable:
        log.warning(
            "definitions change of project %s not announced: broker unavailable", project_id
        )
