"""Per-arm means and variances from sufficient statistics: plain, ratio (delta method), CUPED.

An :class:`Arm` holds what the effect estimators need from one variant. Variances are per unit
(the variance of the arm's mean is ``variance / n``) and are exactly ``0.0`` whenever they are
not positive beyond floating-point noise, so "zero variance" is a single, explicit test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from services.experiments.stats._types import RatioStats, SampleStats

# A variance is computed as a difference of large terms (sum of squares minus squared sum / n,
# or the CUPED and ratio combinations). Below this fraction of the terms' size the difference is
# rounding noise, e.g. the float sums of a constant non-integer metric, and counts as zero.
NOISE = 1e-10


class Arm(msgspec.Struct, frozen=True):
    """One variant's estimator inputs.

    ``mean`` is what the effect compares (CUPED-adjusted when adjusted); ``raw_mean`` is the
    observed mean, which scales relative effects and is what gets displayed. ``empty`` when the
    arm has no units, or a ratio metric's denominator sums to zero (its mean is undefined).
    """

    n: int
    mean: float
    raw_mean: float
    variance: float
    total: float
    empty: bool = False


class _Moment(msgspec.Struct, frozen=True):
    """Mean and per-unit variance of one summed quantity."""

    n: int
    sum: float
    mean: float
    variance: float


def _clean(variance: float, scale: float) -> float:
    return variance if variance > NOISE * scale else 0.0


def moment(n: int, total: float, squares: float, binomial: bool) -> _Moment:
    """Mean and variance of a quantity: p(1-p) for 0/1 values, else the n-1 sample variance."""
    mean = total / n if n > 0 else 0.0
    if binomial:
        return _Moment(n, total, mean, _clean(mean * (1.0 - mean), abs(mean)))
    if n <= 1:
        return _Moment(n, total, mean, 0.0)
    spread = squares - total * total / n
    return _Moment(n, total, mean, _clean(spread, squares) / (n - 1))


def _covariance(n: int, sum_product: float, x: _Moment, y: _Moment) -> float:
    if n <= 1:
        return 0.0
    return (sum_product - x.sum * y.sum / n) / (n - 1)


def sample_arm(stats: SampleStats, binomial: bool) -> Arm:
    """The arm's observed mean and per-unit variance; ``empty`` without units."""
    m = moment(stats.n, stats.sum, stats.sum_squares, binomial)
    return Arm(stats.n, m.mean, m.mean, m.variance, stats.sum, empty=stats.n == 0)


def ratio_arm(stats: RatioStats, binomial: bool) -> Arm:
    """Mean m_sum / d_sum; per-unit variance of the ratio of means by the delta method."""
    n = stats.n
    m = moment(n, stats.m_sum, stats.m_sum_squares, binomial)
    d = moment(n, stats.d_sum, stats.d_sum_squares, binomial)
    if n == 0 or stats.d_sum == 0:
        return Arm(n, 0.0, 0.0, 0.0, stats.m_sum, empty=True)
    mean = stats.m_sum / stats.d_sum
    if n <= 1:
        return Arm(n, mean, mean, 0.0, stats.m_sum)
    cov = _covariance(n, stats.m_d_sum_product, m, d)
    terms = (
        m.variance / d.mean**2,
        -2.0 * cov * m.mean / d.mean**3,
        m.mean**2 * d.variance / d.mean**4,
    )
    variance = _clean(sum(terms), sum(abs(t) for t in terms))
    return Arm(n, mean, mean, variance, stats.m_sum)


class _Covariate(msgspec.Struct, frozen=True):
    pre_sum: float
    pre_sum_squares: float
    sum_product: float


def _covariate(stats: SampleStats) -> _Covariate:
    if stats.pre_sum is None or stats.pre_sum_squares is None or stats.sum_product is None:
        raise ValueError("CUPED needs pre_sum, pre_sum_squares and sum_product for every variant")
    return _Covariate(stats.pre_sum, stats.pre_sum_squares, stats.sum_product)


def cuped_theta(control: SampleStats, treatment: SampleStats, binomial: bool) -> float:
    """The regression coefficient of the metric on its pre-period value, pooled over both arms.

    0 when either pooled variance is zero, which turns the adjustment off.
    """
    cov_a, cov_b = _covariate(control), _covariate(treatment)
    n = control.n + treatment.n
    post = moment(
        n, control.sum + treatment.sum, control.sum_squares + treatment.sum_squares, binomial
    )
    pre = moment(
        n,
        cov_a.pre_sum + cov_b.pre_sum,
        cov_a.pre_sum_squares + cov_b.pre_sum_squares,
        binomial,
    )
    if post.variance == 0 or pre.variance == 0:
        return 0.0
    return _covariance(n, cov_a.sum_product + cov_b.sum_product, post, pre) / pre.variance


def cuped_arm(stats: SampleStats, theta: float, binomial: bool) -> Arm:
    """The arm's mean and variance after subtracting theta x its pre-period mean."""
    post = moment(stats.n, stats.sum, stats.sum_squares, binomial)
    if theta == 0 or stats.n == 0:
        return Arm(stats.n, post.mean, post.mean, post.variance, stats.sum, empty=stats.n == 0)
    covariate = _covariate(stats)
    pre = moment(stats.n, covariate.pre_sum, covariate.pre_sum_squares, binomial)
    adjusted = post.mean - theta * pre.mean
    if stats.n <= 1:
        return Arm(stats.n, adjusted, post.mean, 0.0, stats.sum)
    cov = _covariance(stats.n, covariate.sum_product, post, pre)
    variance = _clean(
        post.variance + theta**2 * pre.variance - 2.0 * theta * cov,
        post.variance + theta**2 * pre.variance,
    )
    return Arm(stats.n, adjusted, post.mean, variance, stats.sum)
