"""The engine's inputs and outputs: per-variant sufficient statistics, settings, results."""

from __future__ import annotations

import math
from typing import Literal

import msgspec

Engine = Literal["bayesian", "frequentist"]
MetricKind = Literal["mean", "proportion"]
Status = Literal["ok", "too_little_data", "zero_variance", "zero_control_mean", "empty"]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _finite(**values: float | None) -> None:
    for name, value in values.items():
        _require(value is None or math.isfinite(value), f"{name} must be a finite number")


class SampleStats(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One variant's sufficient statistics: units, the sum of their values, the sum of squares.

    For a proportion metric each unit's value is 0 or 1, so ``sum`` is the number of converted
    units and ``sum_squares`` equals it. The ``pre_*`` fields and ``sum_product`` (sum over
    units of value x pre-period value) are needed only when the analysis uses CUPED.
    """

    n: int
    sum: float
    sum_squares: float
    pre_sum: float | None = None
    pre_sum_squares: float | None = None
    sum_product: float | None = None

    def __post_init__(self) -> None:
        _require(self.n >= 0, "n must not be negative")
        _require(self.sum_squares >= 0, "sum_squares must not be negative")
        _require(
            self.pre_sum_squares is None or self.pre_sum_squares >= 0,
            "pre_sum_squares must not be negative",
        )
        _finite(
            sum=self.sum,
            sum_squares=self.sum_squares,
            pre_sum=self.pre_sum,
            pre_sum_squares=self.pre_sum_squares,
            sum_product=self.sum_product,
        )


class RatioStats(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One variant's sufficient statistics for a ratio metric (numerator m over denominator d).

    ``n`` counts units (users); the sums run over units, e.g. m = a user's revenue and d = the
    user's orders for "revenue per order".
    """

    n: int
    m_sum: float
    m_sum_squares: float
    d_sum: float
    d_sum_squares: float
    m_d_sum_product: float

    def __post_init__(self) -> None:
        _require(self.n >= 0, "n must not be negative")
        _require(
            self.m_sum_squares >= 0 and self.d_sum_squares >= 0,
            "sums of squares must not be negative",
        )
        _finite(
            m_sum=self.m_sum,
            m_sum_squares=self.m_sum_squares,
            d_sum=self.d_sum,
            d_sum_squares=self.d_sum_squares,
            m_d_sum_product=self.m_d_sum_product,
        )


Stats = SampleStats | RatioStats


class Analysis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How to compare each treatment with control.

    - ``metric``: ``"proportion"`` treats every value as 0/1 (variance p(1-p)); ``"mean"`` uses
      the sample variance. For ratio metrics it applies to numerator and denominator alike.
    - ``relative``: effects as (treatment - control) / control rather than differences.
    - ``inverse``: lower is better (chance to win and risk are read the other way round).
    - ``sequential``: always-valid intervals and p-values (frequentist engine only).
    - ``prior_mean`` / ``prior_variance``: a Gaussian prior on the *relative* effect for the
      Bayesian engine; ``None`` variance is the flat (improper) prior. For absolute effects the
      prior is rescaled by the control mean, as GrowthBook does.
    - ``min_sample``: units each of control and treatment need; ``min_conversions``: the larger
      of the two arms' metric totals (conversions for a proportion) must reach it. Below either,
      the result is ``too_little_data``.
    """

    engine: Engine = "bayesian"
    metric: MetricKind = "mean"
    confidence: float = 0.95
    relative: bool = True
    inverse: bool = False
    sequential: bool = False
    sequential_tuning: float = 5000.0
    cuped: bool = False
    prior_mean: float = 0.0
    prior_variance: float | None = None
    min_sample: int = 100
    min_conversions: float = 150.0

    def __post_init__(self) -> None:
        _require(0.0 < self.confidence < 1.0, "confidence must be between 0 and 1")
        _require(self.sequential_tuning > 0, "sequential_tuning must be positive")
        _require(
            self.prior_variance is None or self.prior_variance > 0,
            "prior_variance must be positive (None for a flat prior)",
        )
        _require(
            not (self.sequential and self.engine == "bayesian"),
            "sequential testing applies to the frequentist engine",
        )
        _require(self.min_sample >= 0 and self.min_conversions >= 0, "minimums must be >= 0")
        _finite(prior_mean=self.prior_mean, prior_variance=self.prior_variance)

    @property
    def alpha(self) -> float:
        """The significance level, 1 - confidence."""
        return 1.0 - self.confidence


class VariantResult(msgspec.Struct, frozen=True):
    """One treatment compared with control.

    ``value`` and ``baseline`` are the treatment's and control's observed means (unadjusted by
    CUPED). When ``status`` is not ``"ok"`` nothing inferential is reported: ``interval``,
    ``effect_stddev``, ``chance_to_win``, ``risk`` and ``p_value`` are ``None`` and
    ``significant`` is false; ``effect`` still carries the observed point estimate when it is
    defined (``zero_variance``), and is ``None`` otherwise.
    """

    key: str
    status: Status
    n: int
    value: float
    baseline: float
    effect: float | None
    interval: tuple[float, float] | None
    effect_stddev: float | None
    chance_to_win: float | None
    risk: tuple[float, float] | None
    p_value: float | None
    significant: bool


class SrmResult(msgspec.Struct, frozen=True):
    """Sample-ratio-mismatch check: the chi-square p-value and whether it is flagged."""

    p_value: float
    mismatch: bool
