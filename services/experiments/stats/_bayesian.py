"""Bayesian inference on the effect with a normal model: posterior, chance to win, risk."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec
from scipy import special  # type: ignore[import-untyped]  # scipy ships no type information

if TYPE_CHECKING:
    from services.experiments.stats._effect import Effect


class Posterior(msgspec.Struct, frozen=True):
    """The normal posterior of the effect: its mean and standard deviation."""

    mean: float
    stddev: float


class BayesianOutcome(msgspec.Struct, frozen=True):
    """A posterior summarised: credible interval, chance that the treatment is better, and
    risk as (expected loss of shipping control, of shipping treatment)."""

    mean: float
    stddev: float
    interval: tuple[float, float]
    chance_to_win: float
    risk: tuple[float, float]


def posterior(data: Effect, prior_mean: float, prior_variance: float | None) -> Posterior:
    """Normal likelihood N(estimate, variance) times a normal prior; a flat prior if None."""
    if prior_variance is None:
        return Posterior(data.estimate, math.sqrt(data.variance))
    precision = 1.0 / data.variance + 1.0 / prior_variance
    mean = (data.estimate / data.variance + prior_mean / prior_variance) / precision
    return Posterior(mean, math.sqrt(1.0 / precision))


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _cdf(z: float) -> float:
    return float(special.ndtr(z))


def risk(post: Posterior) -> tuple[float, float]:
    """Expected loss of shipping control, and of shipping treatment.

    With effect D ~ N(mu, s^2): choosing control loses E[max(D, 0)] = mu Phi(mu/s) + s phi(mu/s);
    choosing treatment loses E[max(-D, 0)] = s phi(mu/s) - mu Phi(-mu/s). These closed forms
    equal P(D > 0) E[D | D > 0] and -P(D < 0) E[D | D < 0], GrowthBook's definition.
    """
    mu, s = post.mean, post.stddev
    z = mu / s
    density = s * _phi(z)
    return (max(mu * _cdf(z) + density, 0.0), max(density - mu * _cdf(-z), 0.0))


def bayesian(post: Posterior, alpha: float, inverse: bool) -> BayesianOutcome:
    """Credible interval, chance to win and risk of a posterior; ``inverse`` if lower is better."""
    mu, s = post.mean, post.stddev
    interval = (
        mu + s * float(special.ndtri(alpha / 2.0)),
        mu + s * float(special.ndtri(1.0 - alpha / 2.0)),
    )
    z = mu / s
    win = _cdf(-z) if inverse else _cdf(z)
    loss_control, loss_treatment = risk(post)
    pair = (loss_treatment, loss_control) if inverse else (loss_control, loss_treatment)
    return BayesianOutcome(mu, s, interval, win, pair)
