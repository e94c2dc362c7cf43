"""Frequentist inference on the effect: Welch's t-test and the always-valid sequential test."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec
from scipy import special  # type: ignore[import-untyped]  # scipy ships no type information

if TYPE_CHECKING:
    from services.experiments.stats._effect import Effect


class FrequentistOutcome(msgspec.Struct, frozen=True):
    """A confidence interval of the effect and the p-value of "no effect"."""

    interval: tuple[float, float]
    p_value: float


def welch(data: Effect, alpha: float) -> FrequentistOutcome:
    """Two-sided Welch t-test of "no effect" and the matching confidence interval."""
    se = math.sqrt(data.variance)
    t = data.estimate / se
    # 2 * sf(|t|) rather than 2 * (1 - cdf(|t|)): the same number, without losing tiny p-values.
    p_value = min(1.0, 2.0 * float(special.stdtr(data.dof, -abs(t))))
    half = float(special.stdtrit(data.dof, 1.0 - alpha / 2.0)) * se
    return FrequentistOutcome((data.estimate - half, data.estimate + half), p_value)


def mixture_rho(alpha: float, tuning: float) -> float:
    """Mixing parameter of the normal mixture tuned to be tightest at ``tuning`` units."""
    log_term = -2.0 * math.log(alpha)
    return math.sqrt((log_term + math.log(log_term + 1.0)) / tuning)


def sequential(data: Effect, n_total: int, alpha: float, tuning: float) -> FrequentistOutcome:
    """Asymptotic confidence sequence (normal mixture) and its always-valid p-value.

    ``n_total`` is the number of units in both arms; ``data.variance * n_total`` plays the role
    of the per-unit variance of the effect's estimator.
    """
    rho2 = mixture_rho(alpha, tuning) ** 2
    spread = n_total * rho2 + 1.0
    per_unit = data.variance * n_total
    half = math.sqrt(per_unit) * math.sqrt(
        2.0 * spread * math.log(math.sqrt(spread) / alpha) / (n_total**2 * rho2)
    )
    # The e-value exp(rho^2 S / (2 spread)) / sqrt(spread), S = estimate^2 N / variance,
    # kept in logs so that a huge statistic gives p = 0 instead of overflowing.
    statistic = data.estimate**2 * n_total / data.variance
    log_e = rho2 * statistic / (2.0 * spread) - 0.5 * math.log(spread)
    p_value = 1.0 if log_e <= 0 else math.exp(-log_e)
    return FrequentistOutcome((data.estimate - half, data.estimate + half), p_value)
