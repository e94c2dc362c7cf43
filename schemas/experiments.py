"""Wire contracts of the experiments service."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - msgspec resolves annotations at runtime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

MetricKindIn = Literal["conversion", "count", "sum", "mean", "ratio", "funnel"]
Role = Literal["primary", "secondary", "guardrail"]


class PropertyFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    key: str
    value: Any = None
    operator: Literal[
        "exact",
        "is_not",
        "icontains",
        "not_icontains",
        "gt",
        "gte",
        "lt",
        "lte",
        "is_set",
        "is_not_set",
    ] = "exact"


class MetricIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One metric. ``event`` (and ``property`` for sum/mean) for most kinds; ``numerator`` and
    ``denominator`` (metrics themselves) for ratio; ``steps`` (event names, in order) for funnel."""

    name: str
    kind: MetricKindIn
    event: str | None = None
    property: str | None = None
    filters: list[PropertyFilter] = []
    window_hours: float | None = None
    role: Role = "secondary"
    numerator: MetricIn | None = None
    denominator: MetricIn | None = None
    steps: list[str] | None = None
    # For guardrails: the direction that is bad ("decrease" means a drop is a regression).
    inverse: bool = False


class AnalysisIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    engine: Literal["bayesian", "frequentist"] = "bayesian"
    confidence: float = 0.95
    relative: bool = True
    sequential: bool = False
    sequential_tuning: float = 5000.0
    cuped: bool = False
    pre_period_days: float = 14.0
    prior_mean: float = 0.0
    prior_variance: float | None = None
    # Guards: no verdict below this many exposures per variant, or (conversion and funnel
    # metrics) this many conversions in the larger arm.
    min_sample: int = 100
    min_conversions: int = 150


class ExposureIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # People seen with more than one variant: left out (default) or kept in their first.
    multiple_variants: Literal["exclude", "first"] = "exclude"


class ExperimentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    feature_flag_key: str
    metrics: list[MetricIn]
    description: str = ""
    analysis: AnalysisIn = AnalysisIn()
    exposure: ExposureIn = ExposureIn()
    start_at: datetime | None = None
    end_at: datetime | None = None


class ExperimentPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PATCH /api/experiments/{id}``: only the fields sent change; the result is checked as a
    whole, like a new experiment."""

    name: str | UnsetType = UNSET
    feature_flag_key: str | UnsetType = UNSET
    metrics: list[MetricIn] | UnsetType = UNSET
    description: str | UnsetType = UNSET
    analysis: AnalysisIn | UnsetType = UNSET
    exposure: ExposureIn | UnsetType = UNSET
    start_at: datetime | UnsetType | None = UNSET
    end_at: datetime | UnsetType | None = UNSET


class ExperimentOut(msgspec.Struct, frozen=True):
    id: int
    name: str
    description: str
    feature_flag_key: str
    status: str
    start_at: datetime | None
    end_at: datetime | None
    metrics: list[MetricIn]
    analysis: AnalysisIn
    exposure: ExposureIn
    created_at: datetime
    updated_at: datetime


class ExperimentList(msgspec.Struct, frozen=True):
    results: list[ExperimentOut]


class VariantOut(msgspec.Struct, frozen=True):
    key: str
    exposures: int
    value: float | None
    effect: float | None
    interval: list[float] | None
    chance_to_win: float | None
    p_value: float | None
    risk: list[float] | None
    significant: bool
    status: str


class MetricResult(msgspec.Struct, frozen=True):
    name: str
    kind: str
    role: str
    variants: list[VariantOut]


class ResultsOut(msgspec.Struct, frozen=True):
    experiment_id: int
    control: str
    metrics: list[MetricResult]
    srm_p_value: float | None
    warnings: list[str]
    computed_at: datetime
    data_until: datetime
