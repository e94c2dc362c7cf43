"""The experiments service's statistics engine.

Pure functions over per-variant sufficient statistics: Bayesian and frequentist comparisons of
every treatment with control (relative or absolute effects, sequential testing, CUPED, ratio
metrics), the sample-ratio-mismatch check, and the sample size calculator. ``docs/experiments.md``
gives each method's formula and reference; GrowthBook's gbstats is the tests' oracle.
"""

from __future__ import annotations

from services.experiments.stats._analyze import analyze
from services.experiments.stats._power import running_days, sample_size
from services.experiments.stats._srm import SRM_THRESHOLD, srm
from services.experiments.stats._types import (
    Analysis,
    Engine,
    MetricKind,
    RatioStats,
    SampleStats,
    SrmResult,
    Stats,
    Status,
    VariantResult,
)

__all__ = [
    "SRM_THRESHOLD",
    "Analysis",
    "Engine",
    "MetricKind",
    "RatioStats",
    "SampleStats",
    "SrmResult",
    "Stats",
    "Status",
    "VariantResult",
    "analyze",
    "running_days",
    "sample_size",
    "srm",
]
