"""Compare every treatment with control: guards first, then the chosen engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.experiments.stats._bayesian import bayesian, posterior
from services.experiments.stats._effect import effect, point_estimate
from services.experiments.stats._frequentist import sequential, welch
from services.experiments.stats._moments import (
    Arm,
    cuped_arm,
    cuped_theta,
    ratio_arm,
    sample_arm,
)
from services.experiments.stats._types import (
    Analysis,
    RatioStats,
    SampleStats,
    Stats,
    Status,
    VariantResult,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


def analyze(
    control: Stats, treatments: Mapping[str, Stats], analysis: Analysis
) -> list[VariantResult]:
    """Compare each treatment with control, in the order given.

    Every variant must carry the same kind of statistics. Degenerate data never raises: it
    yields a result whose ``status`` says why there is no inference (see :class:`VariantResult`).
    Inconsistent input (mixed kinds, CUPED without covariate sums, a proportion above 1) raises
    ``ValueError``.
    """
    for stats in (control, *treatments.values()):
        _validate(stats, control, analysis)
    return [_compare(key, control, t, analysis) for key, t in treatments.items()]


def _validate(stats: Stats, control: Stats, analysis: Analysis) -> None:
    if type(stats) is not type(control):
        raise ValueError("control and treatments must all be SampleStats or all RatioStats")
    if isinstance(stats, RatioStats) and analysis.cuped:
        raise ValueError("CUPED applies to SampleStats, not to ratio metrics")
    if analysis.metric == "proportion":
        if isinstance(stats, RatioStats):
            totals: tuple[float | None, ...] = (stats.m_sum, stats.d_sum)
        else:
            totals = (stats.sum, stats.pre_sum)
        if any(t is not None and not 0 <= t <= stats.n for t in totals):
            raise ValueError("a proportion metric's sums must lie between 0 and n")


def _arms(control: Stats, treatment: Stats, analysis: Analysis) -> tuple[Arm, Arm]:
    binomial = analysis.metric == "proportion"
    if isinstance(control, RatioStats) and isinstance(treatment, RatioStats):
        return ratio_arm(control, binomial), ratio_arm(treatment, binomial)
    assert isinstance(control, SampleStats)
    assert isinstance(treatment, SampleStats)
    if analysis.cuped:
        # Pooled over this pair only, as GrowthBook does: each comparison has its own theta.
        theta = cuped_theta(control, treatment, binomial)
        return cuped_arm(control, theta, binomial), cuped_arm(treatment, theta, binomial)
    return sample_arm(control, binomial), sample_arm(treatment, binomial)


def _status(a: Arm, b: Arm, analysis: Analysis) -> Status:
    if a.empty or b.empty:
        return "empty"
    if min(a.n, b.n) < analysis.min_sample:
        return "too_little_data"
    # 0 turns the guard off, e.g. for metrics that can be negative (a total is then no count).
    if analysis.min_conversions > 0 and max(a.total, b.total) < analysis.min_conversions:
        return "too_little_data"
    if analysis.relative and (a.raw_mean == 0 or a.mean == 0):
        return "zero_control_mean"
    if (
        analysis.engine == "bayesian"
        and analysis.prior_variance is not None
        and not analysis.relative
        and a.raw_mean == 0
    ):
        # The prior is stated on the relative effect; it has no absolute scale here.
        return "zero_control_mean"
    if a.variance == 0 or b.variance == 0:
        return "zero_variance"
    return "ok"


def _compare(key: str, control: Stats, treatment: Stats, analysis: Analysis) -> VariantResult:
    a, b = _arms(control, treatment, analysis)
    status = _status(a, b, analysis)
    if status != "ok":
        observed = point_estimate(a, b, analysis.relative) if status == "zero_variance" else None
        return VariantResult(
            key=key,
            status=status,
            n=b.n,
            value=b.raw_mean,
            baseline=a.raw_mean,
            effect=observed,
            interval=None,
            effect_stddev=None,
            chance_to_win=None,
            risk=None,
            p_value=None,
            significant=False,
        )
    data = effect(a, b, analysis.relative)
    alpha = analysis.alpha
    if analysis.engine == "bayesian":
        prior_mean, prior_variance = analysis.prior_mean, analysis.prior_variance
        if prior_variance is not None and not analysis.relative:
            prior_mean *= abs(a.raw_mean)
            prior_variance *= a.raw_mean**2
        outcome = bayesian(posterior(data, prior_mean, prior_variance), alpha, analysis.inverse)
        return VariantResult(
            key=key,
            status="ok",
            n=b.n,
            value=b.raw_mean,
            baseline=a.raw_mean,
            effect=outcome.mean,
            interval=outcome.interval,
            effect_stddev=outcome.stddev,
            chance_to_win=outcome.chance_to_win,
            risk=outcome.risk,
            p_value=None,
            # Decided either way: a winner above the confidence level, a loser below 1 - it.
            significant=not alpha <= outcome.chance_to_win <= analysis.confidence,
        )
    if analysis.sequential:
        test = sequential(data, a.n + b.n, alpha, analysis.sequential_tuning)
    else:
        test = welch(data, alpha)
    return VariantResult(
        key=key,
        status="ok",
        n=b.n,
        value=b.raw_mean,
        baseline=a.raw_mean,
        effect=data.estimate,
        interval=test.interval,
        effect_stddev=data.variance**0.5,
        chance_to_win=None,
        risk=None,
        p_value=test.p_value,
        significant=test.p_value < alpha,
    )
