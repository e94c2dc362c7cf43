"""What the results dashboard shows: view models of the metrics, verdicts, the headline, health.

Everything here turns an experiment and its ``ResultsOut`` (the API's own body) into view
models the templates print; nothing is recomputed, so the pages show the API's numbers. Figures
as text are in ``figures``, the per-day series in ``series``, the sample size calculator in
``calculator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.experiments import charts, stats
from services.experiments.figures import (
    axis_effect,
    chance_text,
    effect_text,
    metric_value,
    p_value_text,
    risk_text,
)

if TYPE_CHECKING:
    from markupsafe import Markup

    from schemas.experiments import ExperimentOut, MetricIn, MetricResult, ResultsOut, VariantOut

STATUS_NOTES = {
    "too_little_data": "Needs more data",
    "zero_variance": "No variance",
    "zero_control_mean": "Zero baseline",
    "empty": "No data",
}


@dataclass(frozen=True)
class Cell:
    """A figure as shown, with the exact number it came from (printed as ``data-raw``)."""

    text: str
    raw: float | None = None


DASH = Cell("—")


@dataclass(frozen=True)
class VariantView:
    """One variant's row in a metric's table: its figures as cells, verdict and tone."""

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
    """A metric's section: what it measures, its variants' rows and the interval plot."""

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
    """The health banner: its tone, title and the warnings it lists."""

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
    """A metric's result as its section shows it: a row per variant and the interval plot."""
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
    """The sections of the results' metrics that the experiment still defines, in result order."""
    specs = {m.name: m for m in exp.metrics}
    return [metric_view(exp, specs[r.name], r) for r in body.metrics if r.name in specs]


def primary(exp: ExperimentOut) -> MetricIn | None:
    """The experiment's primary metric."""
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
        """Rank key: a treatment with a result above one without, then its chance to win,
        else its effect in the better direction."""
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
    """Exposures across all variants (from the first metric); None without results."""
    if body is None or not body.metrics:
        return None
    return sum(v.exposures for v in body.metrics[0].variants)
