"""The comparison grid: simulated and hand-made variant statistics, crossed with analysis settings.

Every case is generated deterministically (seeded), so a failure names a case that reproduces.
A case holds our engine's inputs and the same inputs in the shape gbstats_oracle.py reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from services.experiments.stats import Analysis, RatioStats, SampleStats, Stats

Kind = str  # "proportion", "mean", "cuped_proportion", "cuped_mean", "ratio", "ratio_proportion"


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: Kind
    control: Stats
    treatment: Stats

    @property
    def binomial(self) -> bool:
        return is_binomial(self.kind)

    @property
    def oracle_kind(self) -> str:
        if self.kind.startswith("cuped"):
            return "cuped"
        return "ratio" if self.kind.startswith("ratio") else "sample"


@dataclass(frozen=True)
class Setting:
    """One way of analysing: an engine and its options, as our Analysis and as gbstats config."""

    name: str
    engine: str  # "bayesian", "frequentist", "sequential"
    relative: bool
    alpha: float = 0.05
    inverse: bool = False
    prior: tuple[float, float] | None = None  # (mean, variance) of a proper prior
    tuning: float = 5000.0


def is_binomial(kind: Kind) -> bool:
    return kind in ("proportion", "cuped_proportion", "ratio_proportion")


def make_analysis(kind: Kind, s: Setting) -> Analysis:
    """Our engine's settings for a gbstats configuration; no minimum-sample guards."""
    return Analysis(
        engine="bayesian" if s.engine == "bayesian" else "frequentist",
        metric="proportion" if is_binomial(kind) else "mean",
        confidence=1.0 - s.alpha,
        relative=s.relative,
        inverse=s.inverse,
        sequential=s.engine == "sequential",
        sequential_tuning=s.tuning,
        cuped=kind.startswith("cuped"),
        prior_mean=s.prior[0] if s.prior else 0.0,
        prior_variance=s.prior[1] if s.prior else None,
        min_sample=0,
        min_conversions=0,
    )


@dataclass(frozen=True)
class PairCase:
    dataset: Dataset
    setting: Setting
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", f"{self.dataset.name}-{self.setting.name}")

    def analysis(self) -> Analysis:
        return make_analysis(self.dataset.kind, self.setting)

    def oracle(self) -> dict[str, Any]:
        s = self.setting
        prior_mean, prior_variance = s.prior or (0.0, 1.0)
        return {
            "kind": self.dataset.oracle_kind,
            "binomial": self.dataset.binomial,
            "a": msgspec.structs.asdict(self.dataset.control),
            "b": msgspec.structs.asdict(self.dataset.treatment),
            "test": s.engine,
            "relative": s.relative,
            "alpha": s.alpha,
            "inverse": s.inverse,
            "prior": {
                "mean": prior_mean,
                "variance": prior_variance,
                "proper": s.prior is not None,
            },
            "tuning": s.tuning,
        }


# -- simulated data ---------------------------------------------------------------------------


def _sample(values: np.ndarray[Any, Any]) -> SampleStats:
    return SampleStats(n=len(values), sum=float(values.sum()), sum_squares=float((values**2).sum()))


def _cuped(post: np.ndarray[Any, Any], pre: np.ndarray[Any, Any]) -> SampleStats:
    return SampleStats(
        n=len(post),
        sum=float(post.sum()),
        sum_squares=float((post**2).sum()),
        pre_sum=float(pre.sum()),
        pre_sum_squares=float((pre**2).sum()),
        sum_product=float((post * pre).sum()),
    )


def _ratio(m: np.ndarray[Any, Any], d: np.ndarray[Any, Any]) -> RatioStats:
    return RatioStats(
        n=len(m),
        m_sum=float(m.sum()),
        m_sum_squares=float((m**2).sum()),
        d_sum=float(d.sum()),
        d_sum_squares=float((d**2).sum()),
        m_d_sum_product=float((m * d).sum()),
    )


def simulate(kind: Kind, n: int, lift: float, rng: np.random.Generator) -> Stats:
    """One variant of ``n`` units whose metric is ``1 + lift`` times the base level."""
    if kind == "proportion":
        return _sample((rng.random(n) < 0.08 * (1 + lift)).astype(float))
    if kind == "mean":
        return _sample(rng.lognormal(1.0, 1.2, n) * (1 + lift))
    if kind == "cuped_mean":
        pre = rng.gamma(2.0, 5.0, n)
        return _cuped(0.8 * pre + rng.normal(2.0, 4.0, n) + 10.0 * lift, pre)
    if kind == "cuped_proportion":
        pre = (rng.random(n) < 0.2).astype(float)
        keep = rng.random(n) < 0.6
        fresh = (rng.random(n) < 0.2 * (1 + lift)).astype(float)
        return _cuped(np.where(keep, pre, fresh), pre)
    if kind == "ratio":
        orders = rng.poisson(1.5, n).astype(float)
        return _ratio(orders * rng.gamma(3.0, 10.0 * (1 + lift), n), orders)
    if kind == "ratio_proportion":
        reached = (rng.random(n) < 0.4).astype(float)
        bought = reached * (rng.random(n) < 0.3 * (1 + lift))
        return _ratio(bought, reached)
    raise ValueError(kind)


SIMULATED_KINDS: tuple[Kind, ...] = (
    "proportion",
    "mean",
    "cuped_mean",
    "cuped_proportion",
    "ratio",
    "ratio_proportion",
)
# (units in control, units in treatment, true lift): null, small and large effects, unequal arms.
SHAPES = ((400, 400, 0.0), (3000, 2800, 0.05), (20000, 20500, -0.03), (800, 1500, 0.4))


def simulated_datasets() -> list[Dataset]:
    rng = np.random.default_rng(20240605)
    datasets = []
    for kind in SIMULATED_KINDS:
        for i, (n_a, n_b, lift) in enumerate(SHAPES):
            control = simulate(kind, n_a, 0.0, rng)
            treatment = simulate(kind, n_b, lift, rng)
            datasets.append(Dataset(f"{kind}{i}", kind, control, treatment))
    return datasets


# -- hand-made degenerate and boundary data ---------------------------------------------------


def _p(n: int, k: float) -> SampleStats:
    return SampleStats(n=n, sum=k, sum_squares=k)


def _m(n: int, total: float, squares: float) -> SampleStats:
    return SampleStats(n=n, sum=total, sum_squares=squares)


def edge_datasets() -> list[Dataset]:
    ratio_ok = RatioStats(
        n=100,
        m_sum=450.0,
        m_sum_squares=4000.0,
        d_sum=150.0,
        d_sum_squares=300.0,
        m_d_sum_product=900.0,
    )
    ratio_no_d = RatioStats(
        n=100, m_sum=0.0, m_sum_squares=0.0, d_sum=0.0, d_sum_squares=0.0, m_d_sum_product=0.0
    )
    return [
        Dataset("control_no_conversions", "proportion", _p(1000, 0), _p(1000, 12)),
        Dataset("treatment_no_conversions", "proportion", _p(1000, 30), _p(1000, 0)),
        Dataset("everyone_converts", "proportion", _p(500, 500), _p(500, 480)),
        Dataset("both_constant", "mean", _m(200, 600, 1800), _m(200, 800, 3200)),
        # values of -1 and +1 in equal numbers: mean 0, variance > 0
        Dataset("control_mean_zero", "mean", _m(400, 0, 400), _m(400, 40, 440)),
        Dataset("negative_control_mean", "mean", _m(500, -750, 9000), _m(500, -600, 8000)),
        Dataset("empty_control", "mean", _m(0, 0, 0), _m(300, 900, 5000)),
        Dataset("empty_treatment", "proportion", _p(300, 30), _p(0, 0)),
        Dataset("single_units", "mean", _m(1, 5, 25), _m(1, 7, 49)),
        Dataset("ratio_control_no_denominator", "ratio", ratio_no_d, ratio_ok),
        Dataset("ratio_treatment_no_denominator", "ratio", ratio_ok, ratio_no_d),
        Dataset(
            "cuped_constant_pre",
            "cuped_mean",
            SampleStats(
                n=300,
                sum=900,
                sum_squares=4000,
                pre_sum=600,
                pre_sum_squares=1200,
                sum_product=1800,
            ),
            SampleStats(
                n=300,
                sum=990,
                sum_squares=4300,
                pre_sum=600,
                pre_sum_squares=1200,
                sum_product=1980,
            ),
        ),
        Dataset(
            "cuped_post_equals_pre",
            "cuped_mean",
            SampleStats(
                n=300,
                sum=900,
                sum_squares=4000,
                pre_sum=900,
                pre_sum_squares=4000,
                sum_product=4000,
            ),
            SampleStats(
                n=300,
                sum=990,
                sum_squares=4300,
                pre_sum=990,
                pre_sum_squares=4300,
                sum_product=4300,
            ),
        ),
    ]


# -- settings ---------------------------------------------------------------------------------


def settings() -> list[Setting]:
    out: list[Setting] = []
    for relative in (True, False):
        scale = "rel" if relative else "abs"
        for alpha in (0.05, 0.1):
            for inverse in (False, True):
                name = f"bayes-flat-{scale}-a{alpha}{'-inv' if inverse else ''}"
                out.append(Setting(name, "bayesian", relative, alpha, inverse))
        for prior in ((0.0, 0.01), (0.1, 0.09)):
            name = f"bayes-prior{prior[0]}-{prior[1]}-{scale}"
            out.append(Setting(name, "bayesian", relative, prior=prior))
        for alpha in (0.05, 0.1):
            out.append(Setting(f"freq-{scale}-a{alpha}", "frequentist", relative, alpha))
        for tuning in (5000.0, 500.0):
            out.append(Setting(f"seq-{scale}-t{tuning:g}", "sequential", relative, tuning=tuning))
    return out


def pair_cases() -> list[PairCase]:
    return [PairCase(d, s) for d in (*simulated_datasets(), *edge_datasets()) for s in settings()]


# -- whole experiments through gbstats' entry point -------------------------------------------


def _row(variation: int, stats: Stats) -> dict[str, Any]:
    row: dict[str, Any] = {"dimension": "All", "variation": str(variation), "users": stats.n}
    row["count"] = stats.n
    if isinstance(stats, RatioStats):
        row |= {
            "main_sum": stats.m_sum,
            "main_sum_squares": stats.m_sum_squares,
            "denominator_sum": stats.d_sum,
            "denominator_sum_squares": stats.d_sum_squares,
            "main_denominator_sum_product": stats.m_d_sum_product,
        }
        return row
    row |= {"main_sum": stats.sum, "main_sum_squares": stats.sum_squares}
    if stats.sum_product is not None:
        row |= {
            "covariate_sum": stats.pre_sum,
            "covariate_sum_squares": stats.pre_sum_squares,
            "main_covariate_sum_product": stats.sum_product,
        }
    return row


@dataclass(frozen=True)
class PipelineCase:
    """A multi-variant experiment analysed by gbstats' process_experiment_results."""

    id: str
    kind: Kind
    variants: tuple[Stats, ...]  # control first
    weights: tuple[float, ...]
    setting: Setting

    def analysis(self) -> Analysis:
        return make_analysis(self.kind, self.setting)

    def oracle(self) -> dict[str, Any]:
        s = self.setting
        metric_type = "binomial" if is_binomial(self.kind) else "count"
        statistic = "mean_ra" if self.kind.startswith("cuped") else "mean"
        if self.kind.startswith("ratio"):
            statistic = "ratio"
        prior_mean, prior_variance = s.prior or (0.0, 0.01)
        ids = [str(i) for i in range(len(self.variants))]
        return {
            "metrics": {
                "m": {
                    "id": "m",
                    "name": "m",
                    "statistic_type": statistic,
                    "main_metric_type": metric_type,
                    "denominator_metric_type": metric_type,
                    "covariate_metric_type": metric_type,
                    "inverse": s.inverse,
                    "prior_proper": s.prior is not None,
                    "prior_mean": prior_mean,
                    "prior_stddev": prior_variance**0.5,
                }
            },
            "analyses": [
                {
                    "var_names": ids,
                    "var_ids": ids,
                    "weights": list(self.weights),
                    "stats_engine": "bayesian" if s.engine == "bayesian" else "frequentist",
                    "sequential_testing_enabled": s.engine == "sequential",
                    "sequential_tuning_parameter": s.tuning,
                    "difference_type": "relative" if s.relative else "absolute",
                    "alpha": s.alpha,
                }
            ],
            "query_results": [
                {"rows": [_row(i, v) for i, v in enumerate(self.variants)], "metrics": ["m"]}
            ],
        }


PIPELINE_SETTINGS = (
    Setting("bayes-flat-rel", "bayesian", True),
    Setting("bayes-flat-abs-inv", "bayesian", False, inverse=True),
    Setting("bayes-prior-rel", "bayesian", True, prior=(0.05, 0.09)),
    Setting("bayes-prior-abs", "bayesian", False, prior=(0.0, 0.04)),
    Setting("freq-rel", "frequentist", True),
    Setting("freq-abs-a0.1", "frequentist", False, alpha=0.1),
    Setting("seq-rel", "sequential", True),
    Setting("seq-abs-t2000", "sequential", False, tuning=2000.0),
)


def pipeline_cases() -> list[PipelineCase]:
    rng = np.random.default_rng(7)
    cases = []
    for kind in SIMULATED_KINDS:
        weights = (0.25, 0.25, 0.25, 0.25) if kind.endswith("proportion") else (0.4, 0.3, 0.3)
        lifts = (0.0, 0.03, -0.05, 0.1)[: len(weights)]
        total = 12000
        variants = tuple(
            simulate(kind, int(total * w * rng.uniform(0.97, 1.03)), lift, rng)
            for w, lift in zip(weights, lifts, strict=True)
        )
        for s in PIPELINE_SETTINGS:
            cases.append(PipelineCase(f"{kind}-{s.name}", kind, variants, weights, s))
    return cases


# -- sample ratio mismatch --------------------------------------------------------------------


@dataclass(frozen=True)
class SrmCase:
    id: str
    counts: tuple[int, ...]
    weights: tuple[float, ...]


SRM_WEIGHTS = (
    (0.5, 0.5),
    (0.2, 0.8),
    (1 / 3, 1 / 3, 1 / 3),
    (0.1, 0.3, 0.6),
    (0.25, 0.25, 0.25, 0.25),
    (1.0, 1.0, 2.0),  # weights need not sum to 1
)


def srm_cases() -> list[SrmCase]:
    rng = np.random.default_rng(11)
    cases = []
    for i, weights in enumerate(SRM_WEIGHTS):
        for total in (50, 1000, 100000):
            for skew in (0.0, 0.01, 0.1):
                # later variants get up to (1 + skew)x their share: no, mild and strong mismatch
                tilted = np.array(weights) * (1 + skew * np.arange(len(weights)))
                drawn = rng.multinomial(total, tilted / tilted.sum())
                counts = tuple(int(c) for c in drawn)
                cases.append(SrmCase(f"w{i}-n{total}-skew{skew}", counts, weights))
        cases.append(SrmCase(f"w{i}-nobody", tuple(0 for _ in weights), weights))
    return cases
