"""The dashboard's charts over time: exposures and the primary metric per UTC day.

The one read of the dashboard's own: the per-person rows the results are summed from
(``people``), grouped by the day of their first exposure, so that the totals are the results'
figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import TYPE_CHECKING

from services.experiments import charts, people
from services.experiments.dashboard import primary
from services.experiments.figures import axis_value, day_label, metric_value
from services.experiments.metrics import Scope

if TYPE_CHECKING:
    from markupsafe import Markup

    from schemas.experiments import ExperimentOut, MetricIn, ResultsOut
    from services.core.service import Context


CHARTED = ("conversion", "count", "sum", "mean", "funnel")  # one value column per person


@dataclass(frozen=True)
class Daily:
    """Per-day series of an experiment: the UTC days and, per variant, cumulative figures."""

    days: list[date]
    exposures: dict[str, list[float | None]]  # cumulative, per variant
    values: dict[str, list[float | None]]  # cumulative primary metric (None: not charted)


async def daily(ctx: Context, exp: ExperimentOut, scope: Scope, metric: MetricIn) -> Daily:
    """Cumulative exposures and ``metric`` per variant for every UTC day of the experiment.

    The people are the rows ``results`` summed (``people``), grouped by the day of their first
    exposure, so the last day's figures are the results' exposures and value.
    """
    plan = people.plan(exp.metrics, exp.analysis, scope)
    column = plan.layout[metric.name].value if metric.kind in CHARTED else None
    async with ctx.pool.connection() as conn:
        per_variant = await people.daily(conn, exp.id, column)
    first, last = (t.astimezone(UTC).date() for t in (scope.start, scope.end))
    days = [first + timedelta(days=i) for i in range(max((last - first).days, 0) + 1)]
    at = {d: i for i, d in enumerate(days)}
    exposures: dict[str, list[float | None]] = {}
    values: dict[str, list[float | None]] = {}
    for key in scope.variants:
        firsts, sums = [0] * len(days), [0.0] * len(days)
        for day, n, total in per_variant.get(key, []):
            i = at.get(day)
            if i is not None:
                firsts[i] += n
                sums[i] += total
        n_run, sum_run = 0, 0.0
        exposures[key], values[key] = [], []
        for i in range(len(days)):
            n_run += firsts[i]
            sum_run += sums[i]
            exposures[key].append(float(n_run))
            charted = metric.kind in CHARTED and n_run > 0
            values[key].append(sum_run / n_run if charted else None)
    return Daily(days, exposures, values)


def scope_of(project_id: int, exp: ExperimentOut, body: ResultsOut) -> Scope | None:
    """The scope the results were computed over: same variants, start, end and exposure rule."""
    keys = [v.key for v in body.metrics[0].variants] if body.metrics else []
    if exp.start_at is None or not keys:
        return None
    return Scope(
        project_id=project_id,
        flag_key=exp.feature_flag_key,
        variants=keys,
        start=exp.start_at,
        end=body.data_until,
        keep_first=exp.exposure.multiple_variants == "first",
    )


def over_time(exp: ExperimentOut, daily: Daily) -> tuple[Markup, Markup | None]:
    """The cumulative exposures chart and, for the kinds with one value per person, the primary
    metric's."""
    keys = list(daily.exposures)
    labels = [day_label(d) for d in daily.days]
    exposures = charts.line_chart(
        [charts.Series(k, i, daily.exposures[k]) for i, k in enumerate(keys)],
        labels,
        lambda x: f"{x:,.0f}",
        "Cumulative exposures per variant, by day (UTC)",
        kind="exposures",
        from_zero=True,
    )
    spec = primary(exp)
    if spec is None or not any(v is not None for k in keys for v in daily.values[k]):
        return exposures, None
    values = charts.line_chart(
        [charts.Series(k, i, daily.values[k]) for i, k in enumerate(keys)],
        labels,
        lambda x: metric_value(x, spec.kind),
        f"{spec.name} per variant, cumulative by day of first exposure (UTC)",
        kind="primary",
        axis=lambda x: axis_value(x, spec.kind),
    )
    return exposures, values
