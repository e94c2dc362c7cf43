"""Wire contracts of the flags service: admin bodies, evaluation responses, NATS messages."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

# --- admin API: request bodies -------------------------------------------------------------------
# A typo in a field name is an error (forbid_unknown_fields); a field left out of a PATCH body
# (UNSET) keeps its value. ``filters`` is checked by the flag engine's validator, which names the
# path inside it.

Reason = Annotated[str, Meta(max_length=1000)]


class FlagIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/feature_flags``: a new flag (``filters`` defaults to a 0 % rollout)."""

    key: str
    name: str = ""
    active: bool = True
    filters: dict[str, Any] | UnsetType = UNSET
    ensure_experience_continuity: bool = False
    reason: Reason = ""


class FlagPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PATCH /api/feature_flags/{key}``: only the fields sent change. ``rollout_percentage``
    sets every condition's rollout."""

    name: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    filters: dict[str, Any] | UnsetType = UNSET
    ensure_experience_continuity: bool | UnsetType = UNSET
    rollout_percentage: int | float | UnsetType = UNSET
    reason: Reason = ""


class ScheduledChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a scheduled change does to the flag when it runs."""

    name: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    filters: dict[str, Any] | UnsetType = UNSET
    rollout_percentage: int | float | UnsetType = UNSET


class ScheduleIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/feature_flags/{key}/schedules`` (``run_at`` without an offset is UTC)."""

    run_at: datetime
    change: ScheduledChange
    reason: Reason = ""


class CohortIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/cohorts``: a static cohort lists ``distinct_ids``, a dynamic one has
    ``filters`` (``{"properties": {...}}``)."""

    name: Annotated[str, Meta(min_length=1, max_length=400)]
    description: str = ""
    is_static: bool = False
    filters: dict[str, Any] | UnsetType = UNSET
    distinct_ids: list[Annotated[str, Meta(min_length=1)]] | UnsetType = UNSET


class CohortPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PATCH /api/cohorts/{id}``: only the fields sent change; ``is_static`` can't."""

    name: Annotated[str, Meta(min_length=1, max_length=400)] | UnsetType = UNSET
    description: str | UnsetType = UNSET
    is_static: bool | UnsetType = UNSET
    filters: dict[str, Any] | UnsetType = UNSET
    distinct_ids: list[Annotated[str, Meta(min_length=1)]] | UnsetType = UNSET


class GroupTypeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PUT /api/group_types/{index}``."""

    group_type: Annotated[str, Meta(min_length=1, max_length=200)]


# --- admin API: responses ----------------------------------------------------------------------


class FlagOut(msgspec.Struct, frozen=True):
    id: int
    key: str
    name: str
    active: bool
    filters: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    ensure_experience_continuity: bool = False


class FlagList(msgspec.Struct, frozen=True):
    results: list[FlagOut]
    count: int


class DiffEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """One leaf that differs between two definitions; a missing side is left out."""

    path: str
    before: Any = None
    after: Any = None


class FlagChangeOut(msgspec.Struct, frozen=True):
    id: int
    flag_id: int
    key: str
    version: int
    kind: str
    actor: str
    reason: str
    created_at: datetime
    definition: dict[str, Any]
    diff: list[DiffEntry]


class FlagHistory(msgspec.Struct, frozen=True):
    results: list[FlagChangeOut]


class ScheduleOut(msgspec.Struct, frozen=True):
    id: int
    flag_key: str
    run_at: datetime
    change: dict[str, Any]
    status: str
    actor: str
    reason: str
    created_at: datetime
    applied_version: int | None = None
    error: str | None = None
    finished_at: datetime | None = None


class ScheduleList(msgspec.Struct, frozen=True):
    results: list[ScheduleOut]


class CohortOut(msgspec.Struct, frozen=True):
    id: int
    name: str
    description: str
    is_static: bool
    filters: dict[str, Any] | None
    count: int | None
    created_at: datetime
    updated_at: datetime


class CohortList(msgspec.Struct, frozen=True):
    results: list[CohortOut]


class GroupTypeOut(msgspec.Struct, frozen=True):
    group_type_index: int
    group_type: str


class GroupTypeList(msgspec.Struct, frozen=True):
    results: list[GroupTypeOut]


# --- evaluation API (PostHog's /flags and /decide) ---------------------------------------------


class FlagReason(msgspec.Struct, frozen=True):
    code: str
    condition_index: int | None
    description: str


class FlagMetadata(msgspec.Struct, frozen=True):
    id: int | None
    version: int | None
    # JSON text, as PostHog sends it; SDKs decode it.
    payload: str | None
    description: str | None = None


class FlagDetail(msgspec.Struct, frozen=True):
    key: str
    enabled: bool
    variant: str | None
    reason: FlagReason
    metadata: FlagMetadata
    failed: bool = False


class FlagsResponse(msgspec.Struct, frozen=True, rename={"errors": "errorsWhileComputingFlags"}):
    flags: dict[str, FlagDetail]
    errors: bool
    requestId: str  # noqa: N815 - PostHog's wire name


class DecideResponse(
    msgspec.Struct,
    frozen=True,
    rename={
        "feature_flags": "featureFlags",
        "feature_flag_payloads": "featureFlagPayloads",
        "errors": "errorsWhileComputingFlags",
    },
):
    feature_flags: dict[str, bool | str]
    feature_flag_payloads: dict[str, Any]
    errors: bool
    requestId: str  # noqa: N815 - PostHog's wire name


class DefinitionFlag(msgspec.Struct, frozen=True):
    """A flag as local evaluation receives it (PostHog's local_evaluation shape)."""

    id: int
    team_id: int
    key: str
    name: str
    active: bool
    deleted: bool
    filters: dict[str, Any]
    ensure_experience_continuity: bool
    version: int


class Definitions(msgspec.Struct, frozen=True):
    flags: list[DefinitionFlag]
    group_type_mapping: dict[str, str]
    cohorts: dict[str, Any]
    revision: int


# --- NATS: flags.changed.<project> --------------------------------------------------------------


class FlagChanged(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="flag.changed", tag_field="type"
):
    """A row of the flag log, as committed."""

    project_id: int
    change_id: int
    flag_id: int
    key: str
    version: int
    kind: str
    actor: str
    reason: str
    definition: dict[str, Any]
    changed_at: datetime
    revision: int


class DefinitionsChanged(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    tag="definitions.changed",
    tag_field="type",
):
    """Something else evaluation depends on changed (a cohort, a group type)."""

    project_id: int
    revision: int
    what: str


FlagsMessage = FlagChanged | DefinitionsChanged
