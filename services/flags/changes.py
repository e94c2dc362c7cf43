"""The write side: validate a new definition, append it to the log, update the projection.

Every change, whatever asked for it (the admin API, a scheduled change), goes through
:func:`commit` inside the caller's transaction, and is published by :func:`publish` after the
transaction commits. The outbox row written in the same transaction guarantees the message goes
out even if the process dies in between (the relay job sends what is left).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from devflow_sdk.flags import find_dependency_cycle, validate_flag

from schemas.api import FieldError
from schemas.flags import FlagChanged
from services.core.errors import Unavailable
from services.flags import repo
from services.flags.diff import diff
from services.flags.errors import InvalidFlag

if TYPE_CHECKING:
    from services.core.service import Context
    from services.flags.repo import Conn

log = logging.getLogger("devflow.flags")
_encoder = msgspec.json.Encoder()

DEFINITION_FIELDS = ("key", "name", "active", "archived", "filters", "ensure_experience_continuity")
DEFAULT_FILTERS: dict[str, Any] = {"groups": [{"properties": [], "rollout_percentage": 0}]}


@dataclass(frozen=True)
class Committed:
    """A change written in the caller's transaction, with the message to publish after it."""

    flag: repo.FlagRow
    change: repo.ChangeRow
    revision: int
    subject: str
    payload: bytes


def definition_of(flag: repo.FlagRow) -> dict[str, Any]:
    """The flag's definition as the change log stores it."""
    return {
        "key": flag.key,
        "name": flag.name,
        "active": flag.active,
        "archived": flag.archived,
        "filters": flag.filters,
        "ensure_experience_continuity": flag.ensure_experience_continuity,
    }


def apply_patch(definition: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The definition after a partial update. ``rollout_percentage`` sets every condition's."""
    out = copy.deepcopy(definition)
    for field in ("name", "active", "filters", "ensure_experience_continuity"):
        if field in patch:
            out[field] = copy.deepcopy(patch[field])
    if "rollout_percentage" in patch:
        filters = out.get("filters")
        groups = filters.get("groups") if isinstance(filters, dict) else None
        if isinstance(groups, list):
            for group in groups:
                if isinstance(group, dict):
                    group["rollout_percentage"] = patch["rollout_percentage"]
    return out


def kind_of(before: dict[str, Any], after: dict[str, Any]) -> str | None:
    """``rollout`` when only rollout percentages moved, ``update`` otherwise, None if nothing."""
    changes = diff(before, after)
    if not changes:
        return None
    if all(c.path.endswith(".rollout_percentage") for c in changes):
        return "rollout"
    return "update"


async def validate(
    conn: Conn, project_id: int, definition: dict[str, Any], flag_id: int | None
) -> None:
    """Raise :class:`InvalidFlag` naming every field at fault; checks references and cycles."""
    errors = [FieldError(e.path, e.reason) for e in validate_flag(definition)]
    if errors:
        raise InvalidFlag("the flag definition is not valid", errors)
    filters = definition.get("filters") or {}
    index = filters.get("aggregation_group_type_index")
    if index is not None:
        mapping = await repo.select_group_types(conn, project_id)
        if str(index) not in mapping:
            errors.append(
                FieldError(
                    "filters.aggregation_group_type_index",
                    f"no group type has index {index}; "
                    f"declare it with PUT /api/group_types/{index}",
                )
            )
    cohorts = {str(c[0]) for c in await repo.select_cohort_definitions(conn, project_id)}
    flags = await repo.select_flags(conn, project_id, archived=False)
    known = {str(f.id) for f in flags} | {f.key for f in flags}
    for path, prop in _properties(filters):
        if prop.get("type") == "cohort" and str(prop.get("value")) not in cohorts:
            errors.append(FieldError(f"{path}.value", f"no cohort {prop.get('value')!r}"))
        if prop.get("type") == "flag" and str(prop.get("key")) not in known | {definition["key"]}:
            errors.append(FieldError(f"{path}.key", f"no active flag {prop.get('key')!r}"))
    if errors:
        raise InvalidFlag("the flag definition is not valid", errors)
    graph: dict[str, dict[str, Any]] = {
        f.key: {"id": f.id, "key": f.key, "filters": f.filters} for f in flags
    }
    graph[definition["key"]] = {
        "id": flag_id if flag_id is not None else -1,
        "key": definition["key"],
        "filters": filters,
    }
    cycle = find_dependency_cycle(graph)
    if cycle:
        raise InvalidFlag(
            "the flag's dependencies form a cycle",
            [FieldError("filters.groups", "dependency cycle: " + " -> ".join(cycle))],
        )


def _properties(filters: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for gi, group in enumerate(filters.get("groups") or []):
        for pi, prop in enumerate(group.get("properties") or []):
            out.append((f"filters.groups[{gi}].properties[{pi}]", prop))
    return out


async def lock_project(conn: Conn, project_id: int) -> int:
    """Serialise the project's flag writes for this transaction; returns its new revision.

    Taken before reading the flag, so version checks, reference checks and cycle detection all
    see the state no concurrent writer can change before this transaction commits.
    """
    return await repo.bump_revision(conn, project_id)


async def commit(
    conn: Conn,
    project_id: int,
    *,
    revision: int,
    before: repo.FlagRow | None,
    definition: dict[str, Any],
    kind: str,
    actor: str,
    reason: str,
) -> Committed:
    """Validate, append the change and update the projection, in the caller's transaction
    (which holds :func:`lock_project`)."""
    if not definition.get("archived"):
        await validate(conn, project_id, definition, before.id if before else None)
    flag_id = before.id if before else await repo.next_flag_id(conn)
    version = before.version + 1 if before else 1
    definition = {f: definition.get(f) for f in DEFINITION_FIELDS}
    change = await repo.insert_change(
        conn, project_id, flag_id, definition["key"], version, kind, actor, reason, definition
    )
    flag = repo.FlagRow(
        id=flag_id,
        project_id=project_id,
        key=definition["key"],
        name=definition["name"] or "",
        active=bool(definition["active"]),
        archived=bool(definition["archived"]),
        filters=definition["filters"],
        ensure_experience_continuity=bool(definition["ensure_experience_continuity"]),
        version=version,
        created_at=before.created_at if before else change.created_at,
        updated_at=change.created_at,
    )
    await repo.upsert_flag(conn, flag)
    message = FlagChanged(
        project_id=project_id,
        change_id=change.id,
        flag_id=flag_id,
        key=flag.key,
        version=version,
        kind=kind,
        actor=actor,
        reason=reason,
        definition=definition,
        changed_at=change.created_at.astimezone(UTC),
        revision=revision,
    )
    subject = f"flags.changed.{project_id}"
    payload = _encoder.encode(message)
    await repo.insert_outbox(conn, change.id, project_id, subject, payload)
    return Committed(flag, change, revision, subject, payload)


async def publish(ctx: Context, committed: Committed) -> None:
    """Send the committed change; on failure the outbox relay sends it later."""
    await publish_outboxed(ctx, committed.change.id, committed.subject, committed.payload)


async def publish_outboxed(ctx: Context, change_id: int, subject: str, payload: bytes) -> bool:
    """Publish a change and delete its outbox row; False when the broker is unavailable.

    The message id makes a publish racing the relay harmless: the stream drops the duplicate.
    """
    try:
        await ctx.bus.publish(subject, payload, msg_id=f"flag-change-{change_id}")
    except Unavailable:
        log.warning("flag change %s not published yet; the relay will retry", change_id)
        return False
    async with ctx.pool.connection() as conn:
        await repo.delete_outbox(conn, change_id)
    return True


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
