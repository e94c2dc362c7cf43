"""The dashboard's sample size calculator: Evan Miller's sample size and the running time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.experiments import stats
from services.experiments.dashboard import primary, total_exposures
from services.experiments.figures import PROPORTIONS

if TYPE_CHECKING:
    from schemas.experiments import ExperimentOut, ResultsOut


@dataclass(frozen=True)
class Calculator:
    """The calculator form as entered (``submitted`` once any field is in the query) and its
    answer: sample size per variant and in total, running days, or the first error."""

    form: dict[str, str]
    submitted: bool
    per_variant: int | None = None
    total: int | None = None
    days: int | None = None
    error: str | None = None


CALCULATOR_FIELDS = ("baseline", "mde", "mde_kind", "alpha", "power", "daily", "variants")


def calculator(query: dict[str, str], defaults: dict[str, str]) -> Calculator:
    """Evan Miller's sample size per variant and the running time, from the form's fields."""
    form = {k: query.get(k, defaults[k]).strip()[:40] for k in CALCULATOR_FIELDS}
    submitted = any(k in query for k in CALCULATOR_FIELDS)
    try:
        baseline, mde, alpha, power, daily_units = (
            float(form[k]) for k in ("baseline", "mde", "alpha", "power", "daily")
        )
        variants = int(form["variants"])
    except ValueError:
        return Calculator(form, submitted, error="Every field needs a number.")
    relative = form["mde_kind"] != "absolute"
    effect = baseline * mde / 100 if relative else mde
    problems = [
        (
            math.isfinite(baseline) and 0 < baseline < 100,
            "The baseline must be between 0% and 100%.",
        ),
        (math.isfinite(mde) and mde > 0, "The minimum detectable effect must be above 0."),
        (
            min(baseline, 100 - baseline) + effect < 100,
            "Baseline plus effect must stay below 100%.",
        ),
        (
            0 < alpha < 100 and 0 < power < 100,
            "Significance and power must be between 0% and 100%.",
        ),
        (math.isfinite(daily_units) and daily_units > 0, "People per day must be above 0."),
        (variants >= 2, "An experiment has at least two variants."),
    ]
    error = next((message for ok, message in problems if not ok), None)
    if error:
        return Calculator(form, submitted, error=error)
    per_variant = stats.sample_size(
        baseline / 100, mde / 100, alpha / 100, power / 100, relative=relative
    )
    days = stats.running_days(per_variant, variants, daily_units)
    return Calculator(form, submitted, per_variant, per_variant * variants, days)


def calculator_defaults(
    exp: ExperimentOut, body: ResultsOut | None, elapsed_days: float
) -> dict[str, str]:
    """The experiment's own figures where it has them: its control's conversion rate, its
    variants, its exposures per day, its significance level."""
    baseline, variants, daily_units = 10.0, 2, 1000.0
    spec = primary(exp)
    if body is not None and body.metrics:
        variants = max(len(body.metrics[0].variants), 2)
        total = total_exposures(body) or 0
        if total and elapsed_days > 0:
            daily_units = max(1.0, round(total / max(elapsed_days, 1.0)))
        result = next((m for m in body.metrics if spec and m.name == spec.name), None)
        control = result.variants[0] if result and result.variants else None
        if spec and spec.kind in PROPORTIONS and control and control.value:
            baseline = round(control.value * 100, 2) if 0 < control.value < 1 else baseline
    return {
        "baseline": f"{baseline:g}",
        "mde": "5",
        "mde_kind": "relative",
        "alpha": f"{round((1 - exp.analysis.confidence) * 100, 4):g}",
        "power": "80",
        "daily": f"{daily_units:g}",
        "variants": str(variants),
    }
