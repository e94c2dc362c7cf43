"""SQL of the flags service, one module per aggregate; the functions and rows are re-exported
here so callers write ``repo.select_flag``.

- :mod:`.flags`: the change log and the flag projection (and its rebuild).
- :mod:`.revisions`: each project's revision (its write lock) and the outbox of changes.
- :mod:`.schedules`: scheduled changes.
- :mod:`.cohorts`: cohorts, their static members, group types.
- :mod:`.subjects`: what evaluation reads about a person or group, and published traits.
"""

from __future__ import annotations

from services.flags.repo._conn import Conn
from services.flags.repo.cohorts import (
    CohortRow,
    add_members,
    delete_cohort,
    insert_cohort,
    replace_members,
    select_cohort,
    select_cohort_definitions,
    select_cohorts,
    select_group_types,
    update_cohort,
    upsert_group_type,
)
from services.flags.repo.flags import (
    ChangeRow,
    FlagRow,
    delete_projection,
    insert_change,
    next_flag_id,
    select_as_of,
    select_changes,
    select_flag,
    select_flag_by_id,
    select_flags,
    select_projected_projects,
    select_rebuilt,
    upsert_flag,
)
from services.flags.repo.revisions import (
    bump_revision,
    delete_outbox,
    insert_outbox,
    lock_revisions,
    select_outbox,
    select_revision,
)
from services.flags.repo.schedules import (
    ScheduleRow,
    finish_schedule,
    insert_schedule,
    select_due_schedules,
    select_schedule,
    select_schedules,
)
from services.flags.repo.subjects import Subject, select_subject, upsert_churn, upsert_plan

__all__ = [
    "ChangeRow",
    "CohortRow",
    "Conn",
    "FlagRow",
    "ScheduleRow",
    "Subject",
    "add_members",
    "bump_revision",
    "delete_cohort",
    "delete_outbox",
    "delete_projection",
    "finish_schedule",
    "insert_change",
    "insert_cohort",
    "insert_outbox",
    "insert_schedule",
    "lock_revisions",
    "next_flag_id",
    "replace_members",
    "select_as_of",
    "select_changes",
    "select_cohort",
    "select_cohort_definitions",
    "select_cohorts",
    "select_due_schedules",
    "select_flag",
    "select_flag_by_id",
    "select_flags",
    "select_group_types",
    "select_outbox",
    "select_projected_projects",
    "select_rebuilt",
    "select_revision",
    "select_schedule",
    "select_schedules",
    "select_subject",
    "update_cohort",
    "upsert_churn",
    "upsert_flag",
    "upsert_group_type",
    "upsert_plan",
]
