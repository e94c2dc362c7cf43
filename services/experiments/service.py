"""Experiment use cases: create, read, update, launch and stop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.api import FieldError
from schemas.experiments import (
    ExperimentIn,
    ExperimentList,
    ExperimentOut,
    ExperimentPatch,
    MetricIn,
)
from services.core.bodies import decode_json
from services.experiments import repo
from services.experiments.errors import ExperimentNotFound, InvalidExperiment, StateConflict

if TYPE_CHECKING:
    from services.core.service import Context

_fields = tuple(ExperimentIn.__struct_fields__)
# A merged PATCH is re-read as a whole experiment; stored experiments are small.
MAX_MERGED = 16 * 1024 * 1024


def check(exp: ExperimentIn) -> None:
    """Rules a schema can't state; raises naming every field at fault."""
    errors: list[FieldError] = []
    if not 1 <= len(exp.name) <= 400:
        errors.append(FieldError("name", "1 to 400 characters"))
    if not exp.metrics:
        errors.append(FieldError("metrics", "at least one metric is required"))
    primaries = [i for i, m in enumerate(exp.metrics) if m.role == "primary"]
    if exp.metrics and len(primaries) != 1:
        errors.append(FieldError("metrics", "exactly one metric must have role 'primary'"))
    names = [m.name for m in exp.metrics]
    for i, name in enumerate(names):
        if names.index(name) != i:
            errors.append(FieldError(f"metrics[{i}].name", "duplicate metric name"))
    for i, m in enumerate(exp.metrics):
        errors.extend(_check_metric(m, f"metrics[{i}]", top=True))
    a = exp.analysis
    if not 0.5 < a.confidence < 1:
        errors.append(FieldError("analysis.confidence", "must be between 0.5 and 1"))
    if a.sequential_tuning <= 0:
        errors.append(FieldError("analysis.sequential_tuning", "must be positive"))
    if a.pre_period_days <= 0:
        errors.append(FieldError("analysis.pre_period_days", "must be positive"))
    if a.prior_variance is not None and a.prior_variance <= 0:
        errors.append(FieldError("analysis.prior_variance", "must be positive"))
    if a.min_sample < 0:
        errors.append(FieldError("analysis.min_sample", "must not be negative"))
    if a.min_conversions < 0:
        errors.append(FieldError("analysis.min_conversions", "must not be negative"))
    if exp.start_at and exp.end_at and exp.end_at <= exp.start_at:
        errors.append(FieldError("end_at", "must be after start_at"))
    if errors:
        raise InvalidExperiment("the experiment is not valid", errors)


def _check_metric(m: MetricIn, path: str, *, top: bool) -> list[FieldError]:
    errors = []
    if not 1 <= len(m.name) <= 200:
        errors.append(FieldError(f"{path}.name", "1 to 200 characters"))
    if m.window_hours is not None and m.window_hours <= 0:
        errors.append(FieldError(f"{path}.window_hours", "must be positive"))
    if m.kind in ("conversion", "count", "sum", "mean") and not m.event:
        errors.append(FieldError(f"{path}.event", f"required for a {m.kind} metric"))
    if m.kind in ("sum", "mean") and not m.property:
        errors.append(FieldError(f"{path}.property", f"required for a {m.kind} metric"))
    if m.kind == "ratio":
        if not top:
            errors.append(FieldError(f"{path}.kind", "a ratio's parts can't be ratios"))
        for part in ("numerator", "denominator"):
            sub = getattr(m, part)
            if sub is None:
                errors.append(FieldError(f"{path}.{part}", "required for a ratio metric"))
            elif sub.kind in ("ratio", "funnel"):
                errors.append(FieldError(f"{path}.{part}.kind", "must not be ratio or funnel"))
            else:
                errors.extend(_check_metric(sub, f"{path}.{part}", top=False))
    if m.kind == "funnel" and (not m.steps or len(m.steps) < 2):
        errors.append(FieldError(f"{path}.steps", "a funnel needs at least two steps"))
    for i, f in enumerate(m.filters):
        if f.operator in ("gt", "gte", "lt", "lte"):
            try:
                float(f.value[0] if isinstance(f.value, list) else f.value)
            except (TypeError, ValueError, IndexError):
                errors.append(FieldError(f"{path}.filters[{i}].value", "must be a number"))
    return errors


def out(row: repo.ExperimentRow) -> ExperimentOut:
    """The API shape of a stored experiment."""
    return msgspec.convert(
        {f: getattr(row, f) for f in ExperimentOut.__struct_fields__}, ExperimentOut
    )


def _fields_of(exp: ExperimentIn) -> dict[str, Any]:
    return {
        "name": exp.name,
        "description": exp.description,
        "feature_flag_key": exp.feature_flag_key,
        "start_at": exp.start_at,
        "end_at": exp.end_at,
        "metrics": msgspec.to_builtins(exp.metrics),
        "analysis": msgspec.to_builtins(exp.analysis),
        "exposure": msgspec.to_builtins(exp.exposure),
    }


async def create(ctx: Context, project_id: int, exp: ExperimentIn) -> ExperimentOut:
    """Store a checked experiment as a draft; 400 when the flag key names no flag."""
    check(exp)
    async with ctx.pool.connection() as conn, conn.transaction():
        if await repo.select_latest_flag(conn, project_id, exp.feature_flag_key) is None:
            raise InvalidExperiment(
                "no such feature flag",
                [FieldError("feature_flag_key", "no flag with this key in the project")],
            )
        experiment_id = await repo.insert(conn, project_id, _fields_of(exp))
        row = await repo.select_one(conn, project_id, experiment_id)
    assert row is not None
    return out(row)


async def get(ctx: Context, project_id: int, experiment_id: int) -> repo.ExperimentRow:
    """The stored experiment; :class:`ExperimentNotFound` when not in the project."""
    async with ctx.pool.connection() as conn:
        row = await repo.select_one(conn, project_id, experiment_id)
    if row is None:
        raise _not_found(experiment_id)
    return row


async def list_all(ctx: Context, project_id: int) -> ExperimentList:
    """Every experiment of the project, newest first."""
    async with ctx.pool.connection() as conn:
        rows = await repo.select_all(conn, project_id)
    return ExperimentList(results=[out(r) for r in rows])


async def update(
    ctx: Context, project_id: int, experiment_id: int, patch: ExperimentPatch
) -> ExperimentOut:
    """Apply a patch to an experiment and check the merged whole; drops its stored results.

    A launched experiment's flag and start are fixed (:class:`StateConflict`); its status stays.
    """
    changes: dict[str, Any] = msgspec.to_builtins(patch)
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await repo.select_one(conn, project_id, experiment_id, for_update=True)
        if row is None:
            raise _not_found(experiment_id)
        if row.status != "draft" and {"feature_flag_key", "start_at"} & set(changes):
            raise StateConflict(
                "the flag and start of a launched experiment can't change",
                [
                    FieldError(
                        sorted({"feature_flag_key", "start_at"} & set(changes))[0], row.status
                    )
                ],
            )
        current = _stored(row)
        merged = msgspec.json.encode({**msgspec.to_builtins(current), **changes})
        exp = decode_json(merged, ExperimentIn, limit=MAX_MERGED, error=InvalidExperiment)
        check(exp)
        await repo.update(
            conn, project_id, experiment_id, {**_fields_of(exp), "status": row.status}
        )
        await repo.delete_results(conn, experiment_id)
        row = await repo.select_one(conn, project_id, experiment_id)
    assert row is not None
    return out(row)


async def launch(ctx: Context, project_id: int, experiment_id: int) -> ExperimentOut:
    """Move a draft to running, starting now unless a start is set; its flag must exist, not be
    archived and be multivariate with at least two variants (the first is control)."""
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await repo.select_one(conn, project_id, experiment_id, for_update=True)
        if row is None:
            raise _not_found(experiment_id)
        if row.status != "draft":
            raise StateConflict(
                f"the experiment is already {row.status}", [FieldError("status", row.status)]
            )
        flag = await repo.select_latest_flag(conn, project_id, row.feature_flag_key)
        definition = flag.definition if flag else {}
        if flag is None or definition.get("archived"):
            raise InvalidExperiment(
                "the experiment's flag is archived or gone; restore it or pick another",
                [FieldError("feature_flag_key", "archived")],
            )
        variants = ((definition.get("filters") or {}).get("multivariate") or {}).get("variants")
        if not isinstance(variants, list) or len(variants) < 2:
            raise InvalidExperiment(
                "an experiment needs a multivariate flag with at least two variants "
                "(the first is control)",
                [FieldError("feature_flag_key", "not multivariate")],
            )
        fields = _stored(row)
        fields["start_at"] = row.start_at or datetime.now(UTC)
        await repo.update(conn, project_id, experiment_id, {**fields, "status": "running"})
        row = await repo.select_one(conn, project_id, experiment_id)
    assert row is not None
    return out(row)


async def stop(ctx: Context, project_id: int, experiment_id: int) -> ExperimentOut:
    """Move a running experiment to stopped, ending now unless it ended earlier.

    Its stored results are dropped: a stopped experiment's results are never recomputed, so
    ones cached while it ran would be served for good.
    """
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await repo.select_one(conn, project_id, experiment_id, for_update=True)
        if row is None:
            raise _not_found(experiment_id)
        if row.status != "running":
            raise StateConflict(
                f"only a running experiment can be stopped (it is {row.status})",
                [FieldError("status", row.status)],
            )
        now = datetime.now(UTC)
        fields = _stored(row)
        fields["end_at"] = min(row.end_at, now) if row.end_at else now
        await repo.update(conn, project_id, experiment_id, {**fields, "status": "stopped"})
        await repo.delete_results(conn, experiment_id)
        row = await repo.select_one(conn, project_id, experiment_id)
    assert row is not None
    return out(row)


def _stored(row: repo.ExperimentRow) -> dict[str, Any]:
    """The experiment's fields as stored, in the shape the create body has."""
    return {f: getattr(row, f) for f in _fields}


def _not_found(experiment_id: int) -> ExperimentNotFound:
    return ExperimentNotFound(f"no experiment {experiment_id}", [FieldError("id", "not found")])
