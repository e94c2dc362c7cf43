"""What the results dashboard shows: figures as text, verdicts, the per-day series, the calculator.

Everything here turns an experiment and its ``ResultsOut`` (the API's own body) into view
models the templates print; nothing is recomputed, so the pages show the API's numbers. The one
read of its own is :func:`daily`, exposures and the primary metric per day from the per-person
rows the results are summed from (``people``), so that its totals are the results' figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from services.experiments import charts, people, stats
from services.experiments.metrics import Scope

if TYPE_CHECKING:
    from markupsafe import Markup

    from schemas.experiments import ExperimentOut, MetricIn, MetricResult, ResultsOut, VariantOut
    from services.experiments.repo import Conn

MINUS = "\u2212"
PROPORTIONS = ("conversion", "funnel")
STATUS_NOTES = {
    "too_little_data": "Needs more data",
    "zero_variance": "No variance",
    "zero_control_mean": "Zero baseline",
    "empty": "No data",
}


# -- figures as text -----------------------------------------------------------------------------


def _signed(text: str) -> str:
    return text.replace("-", MINUS)


def percent(x: float, digits: int = 1) -> str:
    return _signed(f"{x * 100:.{digits}f}%")


def number(x: float) -> str:
    size = abs(x)
    if size >= 1000:
        return _signed(f"{x:,.0f}")
    if size >= 100:
        return _signed(f"{x:.1f}")
    if size >= 1 or size == 0:
        return _signed(f"{x:.2f}")
    return _signed(f"{x:.3g}")


def metric_value(x: float, kind: str) -> str:
    return percent(x) if kind in PROPORTIONS else number(x)


def effect_text(x: float, kind: str, relative: bool) -> str:
    if relative:
        return _signed(f"{x * 100:+.1f}%")
    if kind in PROPORTIONS:
        return _signed(f"{x * 100:+.1f} pp")
    return ("+" if x > 0 else "") + number(x)


def axis_effect(x: float, kind: str, relative: bool) -> str:
    """A round tick of an effect axis: +20%, 0%, -1.5 pp."""
    unit = "%" if relative else " pp" if kind in PROPORTIONS else ""
    v = round(x * 100 if unit else x, 6)
    return f"0{unit}" if v == 0 else _signed(f"{v:+g}{unit}")


def axis_value(x: float, kind: str) -> str:
    """A round tick of a metric's axis: 20%, 1.5."""
    return f"{round(x * 100, 6):g}%" if kind in PROPORTIONS else _signed(f"{round(x, 6):g}")


def risk_text(x: float, kind: str, relative: bool) -> str:
    """An expected loss, in the effect's unit, with room for small values."""
    if relative:
        return percent(x, 2)
    return f"{x * 100:.2f} pp" if kind in PROPORTIONS else number(x)


def chance_text(x: float) -> str:
    if x >= 0.999:
        return ">99.9%"
    if x <= 0.001:
        return "<0.1%"
    return percent(x)


def p_value_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%b %-d, %Y %H:%M UTC") if moment else "—"


def day_label(day: date) -> str:
    return day.strftime("%b %-d")


def duration(days: float) -> str:
    if days < 1:
        hours = max(round(days * 24), 0)
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return f"{days:.1f} days"


def settings_text(exp: ExperimentOut) -> str:
    """The analysis settings in a few words: engine, level, effect scale, CUPED."""
    a = exp.analysis
    parts = [
        ("Sequential " if a.sequential else "") + a.engine.capitalize(),
        f"{a.confidence * 100:g}%",
        "relative effects" if a.relative else "absolute effects",
    ]
    if a.cuped:
        parts.append(f"CUPED ({a.pre_period_days:g} days before)")
    return " · ".join(parts)


# -- view models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A figure as shown, with the exact number it came from (printed as ``data-raw``)."""

    text: str
    raw: float | None = None


DASH = Cell("—")


@dataclass(frozen=True)
class VariantView:
    key: str
    index: int  # position in the flag, control 0: picks the variant's colour
    exposures: Cell
    value: Cell
    effect: Cell
    interval: Cell
    chance: Cell
    p_value: Cell
    risk: Cell
    verdict: str
    tone: str  # control, win, lose, flat (inconclusive) or muted (no verdict)


@dataclass(frozen=True)
class MetricView:
    name: str
    kind: str
    role: str
    about: str
    variants: list[VariantView]
    plot: Markup | None


@dataclass(frozen=True)
class Headline:
    """The primary metric's best treatment, as the list and the summary show it."""

    metric: str
    variant: str
    effect: str
    stat: str
    verdict: str
    tone: str


@dataclass(frozen=True)
class Health:
    tone: str  # win, warn or lose
    title: str
    lines: list[str]


def verdict(v: VariantOut, inverse: bool) -> tuple[str, str]:
    """What a variant's result means, and its tone."""
    if v.status == "control":
        return "Baseline", "control"
    if v.status != "ok":
        return STATUS_NOTES.get(v.status, v.status.replace("_", " ")), "muted"
    if not v.significant:
        return "Inconclusive", "flat"
    if v.chance_to_win is not None:  # already oriented for inverse metrics
        better = v.chance_to_win > 0.5
    else:
        better = (v.effect or 0.0) < 0 if inverse else (v.effect or 0.0) > 0
    return ("Winning", "win") if better else ("Losing", "lose")


def describe(m: MetricIn) -> str:
    """One line saying what the metric measures."""
    window = f" within {m.window_hours:g} h" if m.window_hours else ""
    match m.kind:
        case "conversion":
            text = f"share of people who did {m.event}{window}"
        case "count":
            text = f"{m.event} events per person{window}"
        case "sum" | "mean":
            text = f"{m.property} of {m.event} per person{window}"
        case "ratio":
            num, den = m.numerator, m.denominator
            text = f"{num.name if num else '?'} per {den.name if den else '?'}{window}"
        case _:
            text = " → ".join(m.steps or []) + window
    if m.filters:
        text += f", {len(m.filters)} filter{'s' if len(m.filters) > 1 else ''}"
    return text + (" · lower is better" if m.inverse else "")


def metric_view(exp: ExperimentOut, spec: MetricIn, result: MetricResult) -> MetricView:
    relative, kind = exp.analysis.relative, spec.kind
    index = {v.key: i for i, v in enumerate(result.variants)}
    views, rows = [], []
    for v in result.variants:
        label, tone = verdict(v, spec.inverse)
        views.append(
            VariantView(
                key=v.key,
                index=index[v.key],
                exposures=Cell(f"{v.exposures:,}", v.exposures),
                value=DASH if v.value is None else Cell(metric_value(v.value, kind), v.value),
                effect=DASH
                if v.effect is None
                else Cell(effect_text(v.effect, kind, relative), v.effect),
                interval=DASH
                if not v.interval
                else Cell(", ".join(effect_text(x, kind, relative) for x in v.interval)),
                chance=DASH
                if v.chance_to_win is None
                else Cell(chance_text(v.chance_to_win), v.chance_to_win),
                p_value=DASH if v.p_value is None else Cell(p_value_text(v.p_value), v.p_value),
                # The expected loss of shipping this variant, in the effect's unit.
                risk=DASH if not v.risk else Cell(risk_text(v.risk[1], kind, relative), v.risk[1]),
                verdict=label,
                tone=tone,
            )
        )
        if v.status != "control":
            low, high = v.interval if v.interval else (None, None)
            note = "" if v.interval else label
            rows.append(charts.IntervalRow(v.key, v.effect, low, high, tone, note))
    plot = None
    if rows:
        plot = charts.interval_plot(
            rows,
            lambda x: effect_text(x, kind, relative),
            f"{spec.name}: effect with its {exp.analysis.confidence:.0%} interval per variant,"
            " against control",
            axis=lambda x: axis_effect(x, kind, relative),
        )
    return MetricView(spec.name, kind, spec.role, describe(spec), views, plot)


def metric_views(exp: ExperimentOut, body: ResultsOut) -> list[MetricView]:
    specs = {m.name: m for m in exp.metrics}
    return [metric_view(exp, specs[r.name], r) for r in body.metrics if r.name in specs]


def primary(exp: ExperimentOut) -> MetricIn | None:
    return next((m for m in exp.metrics if m.role == "primary"), None)


def headline(exp: ExperimentOut, body: ResultsOut) -> Headline | None:
    """The primary metric's best treatment: the highest chance to win, else the best effect."""
    spec = primary(exp)
    result = next((m for m in body.metrics if spec and m.name == spec.name), None)
    treatments = [v for v in result.variants if v.status != "control"] if result else []
    if spec is None or not treatments:
        return None
    sign = -1.0 if spec.inverse else 1.0

    def score(v: VariantOut) -> tuple[int, float]:
        if v.status != "ok":
            return (0, 0.0)
        if v.chance_to_win is not None:
            return (1, v.chance_to_win)
        return (1, sign * (v.effect or 0.0))

    best = max(treatments, key=score)
    label, tone = verdict(best, spec.inverse)
    if best.effect is None or best.status != "ok":
        return Headline(spec.name, best.key, "", "", label, tone)
    if best.chance_to_win is not None:
        stat = f"{chance_text(best.chance_to_win)} chance to win"
    else:
        stat = f"p = {p_value_text(best.p_value)}" if best.p_value is not None else ""
    effect = effect_text(best.effect, spec.kind, exp.analysis.relative)
    return Headline(spec.name, best.key, effect, stat, label, tone)


def health(body: ResultsOut) -> Health:
    """The banner: a sample ratio mismatch first, then any other warning, else all clear."""
    srm = body.srm_p_value
    mismatch = srm is not None and srm < stats.SRM_THRESHOLD
    others = [w for w in body.warnings if not w.startswith("sample ratio mismatch")]
    if mismatch:
        lines = [w for w in body.warnings if w.startswith("sample ratio mismatch")] + others
        return Health("lose", "Sample ratio mismatch: don't trust these results yet", lines)
    if others:
        return Health("warn", "Check before you decide", others)
    srm_text = f" (sample ratio p = {srm:.2f})" if srm is not None else ""
    return Health("win", "Healthy", [f"Exposures match the flag's split{srm_text}; no warnings."])


def chance_chart(exp: ExperimentOut, body: ResultsOut) -> Markup | None:
    """Each treatment's chance to beat control on the primary metric (Bayesian engine only)."""
    spec = primary(exp)
    result = next((m for m in body.metrics if spec and m.name == spec.name), None)
    if spec is None or result is None or exp.analysis.engine != "bayesian":
        return None
    rows = [
        (v.key, v.chance_to_win, verdict(v, spec.inverse)[1])
        for v in result.variants
        if v.status != "control"
    ]
    if not rows:
        return None
    return charts.chance_bars(rows, f"{spec.name}: chance to beat control per variant")


def total_exposures(body: ResultsOut | None) -> int | None:
    if body is None or not body.metrics:
        return None
    return sum(v.exposures for v in body.metrics[0].variants)


# -- per-day series ------------------------------------------------------------------------------

CHARTED = ("conversion", "count", "sum", "mean", "funnel")  # one value column per person


@dataclass(frozen=True)
class Daily:
    days: list[date]
    exposures: dict[str, list[float | None]]  # cumulative, per variant
    values: dict[str, list[float | None]]  # cumulative primary metric (None: not charted)


async def daily(conn: Conn, exp: ExperimentOut, scope: Scope, metric: MetricIn) -> Daily:
    """Cumulative exposures and ``metric`` per variant for every UTC day of the experiment.

    The people are the rows ``results`` summed (``people``), grouped by the day of their first
    exposure, so the last day's figures are the results' exposures and value.
    """
    plan = people.plan(exp.metrics, exp.analysis, scope)
    column = plan.layout[metric.name].value if metric.kind in CHARTED else None
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


# -- the calculator ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calculator:
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
