"""Cohorts (static lists of distinct ids, or dynamic property groups) and group types."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from devflow_sdk.flags import validate_cohort

from schemas.api import FieldError
from schemas.flags import CohortList, CohortOut, DefinitionsChanged, GroupTypeList, GroupTypeOut
from services.core.errors import Unavailable
from services.flags import repo
from services.flags.errors import CohortNotFound, InvalidRequest, StateConflict

if TYPE_CHECKING:
    from services.core.service import Context

log = logging.getLogger("devflow.flags")
_encoder = msgspec.json.Encoder()
MAX_MEMBERS = 100_000
COHORT_FIELDS = {"name", "description", "is_static", "filters", "distinct_ids"}


def cohort_out(row: repo.CohortRow) -> CohortOut:
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


def _check(body: Any, *, is_static: bool | None) -> tuple[dict[str, Any], list[str] | None]:
    """Field errors for a cohort body; ``is_static`` is known on updates, read on creates."""
    if not isinstance(body, dict):
        raise InvalidRequest(
            "the body must be a JSON object", [FieldError("body", "not an object")]
        )
    errors = [FieldError(k, "unknown field") for k in sorted(set(body) - COHORT_FIELDS)]
    static = body.get("is_static", False) if is_static is None else is_static
    if is_static is not None and "is_static" in body and body["is_static"] != is_static:
        errors.append(FieldError("is_static", "cannot change once created"))
    if not isinstance(static, bool):
        errors.append(FieldError("is_static", "must be a boolean"))
        static = False
    if is_static is None or "name" in body:
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 400:
            errors.append(FieldError("name", "required: 1 to 400 characters"))
    if not isinstance(body.get("description", ""), str):
        errors.append(FieldError("description", "must be a string"))
    members: list[str] | None = None
    if static:
        if "filters" in body:
            errors.append(FieldError("filters", "a static cohort has members, not filters"))
        raw = body.get("distinct_ids", [] if is_static is None else None)
        if raw is not None:
            if not isinstance(raw, list) or not all(isinstance(d, str) and d for d in raw):
                errors.append(FieldError("distinct_ids", "must be a list of non-empty strings"))
            elif len(raw) > MAX_MEMBERS:
                errors.append(FieldError("distinct_ids", f"at most {MAX_MEMBERS} per request"))
            else:
                members = list(dict.fromkeys(raw))
    else:
        if "distinct_ids" in body:
            errors.append(FieldError("distinct_ids", "only static cohorts have members"))
        if is_static is None or "filters" in body:
            filters = body.get("filters")
            if not isinstance(filters, dict):
                errors.append(FieldError("filters", 'required: {"properties": {...}}'))
            else:
                errors.extend(
                    FieldError(f"filters.{e.path}" if e.path else "filters", e.reason)
                    for e in validate_cohort(filters)
                )
    if errors:
        raise InvalidRequest("the cohort is not valid", errors)
    return body, members


async def create_cohort(ctx: Context, project_id: int, body: Any) -> CohortOut:
    body, members = _check(body, is_static=None)
    static = bool(body.get("is_static", False))
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await repo.bump_revision(conn, project_id)
        cohort_id = await repo.insert_cohort(
            conn,
            project_id,
            body["name"],
            body.get("description", ""),
            static,
            None if static else body["filters"],
        )
        if members:
            await repo.replace_members(conn, project_id, cohort_id, members)
        row = await repo.select_cohort(conn, project_id, cohort_id)
    assert row is not None
    await _announce(ctx, project_id, revision, f"cohort {cohort_id} created")
    return cohort_out(row)


async def update_cohort(ctx: Context, project_id: int, cohort_id: int, body: Any) -> CohortOut:
    async with ctx.pool.connection() as conn, conn.transaction():
        revision = await repo.bump_revision(conn, project_id)
        row = await _get(conn, project_id, cohort_id)
        body, members = _check(body, is_static=row.is_static)
        await repo.update_cohort(
            conn,
            cohort_id,
            body.get("name", row.name),
            body.get("description", row.description),
            body.get("filters", row.filters),
        )
        if members is not None:
            await repo.replace_members(conn, project_id, cohort_id, members)
        row = await _get(conn, project_id, cohort_id)
    await _announce(ctx, project_id, revision, f"cohort {cohort_id} updated")
    return cohort_out(row)


async def delete_cohort(ctx: Context, project_id: int, cohort_id: int) -> None:
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
    async with ctx.pool.connection() as conn:
        return cohort_out(await _get(conn, project_id, cohort_id))


async def list_cohorts(ctx: Context, project_id: int) -> CohortList:
    async with ctx.pool.connection() as conn:
        rows = await repo.select_cohorts(conn, project_id)
    return CohortList(results=[cohort_out(r) for r in rows])


async def _get(conn: repo.Conn, project_id: int, cohort_id: int) -> repo.CohortRow:
    row = await repo.select_cohort(conn, project_id, cohort_id)
    if row is None:
        raise CohortNotFound(f"no cohort {cohort_id}", [FieldError("id", "not found")])
    return row


async def set_group_type(ctx: Context, project_id: int, index: int, body: Any) -> GroupTypeOut:
    errors = []
    if not 0 <= index <= 4:
        errors.append(FieldError("group_type_index", "must be between 0 and 4"))
    if not isinstance(body, dict) or set(body) != {"group_type"}:
        errors.append(FieldError("body", 'expected {"group_type": "<name>"}'))
        name = None
    else:
        name = body["group_type"]
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            errors.append(FieldError("group_type", "required: 1 to 200 characters"))
    if errors or not isinstance(name, str):
        raise InvalidRequest("the group type is not valid", errors)
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
