"""Run GrowthBook's gbstats on a JSON batch of cases and print its answers as JSON.

This script runs inside the isolated gbstats venv (see ``tests/experiments/oracle/venv.py``),
never inside the project's venv: gbstats 0.8.0 pins numpy<2 and pandas<2. It reads one JSON
object from stdin::

    {"pairs": [...], "srm": [...], "pipelines": [...]}

and writes the same keys with one answer per case. A pair case drives one gbstats test class
(control ``a`` against treatment ``b``); an srm case calls ``check_srm``; a pipeline case goes
through ``process_experiment_results``, the entry point GrowthBook's back end calls.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.gbstats import process_experiment_results
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm


def component(n: int, total: float, squares: float, binomial: bool) -> Any:
    if binomial:
        return ProportionStatistic(n=n, sum=total)
    return SampleMeanStatistic(n=n, sum=total, sum_squares=squares)


def statistic(kind: str, binomial: bool, s: dict[str, Any]) -> Any:
    n = int(s["n"])
    if kind == "sample":
        return component(n, s["sum"], s.get("sum_squares", s["sum"]), binomial)
    if kind == "cuped":
        return RegressionAdjustedStatistic(
            n=n,
            post_statistic=component(n, s["sum"], s["sum_squares"], binomial),
            pre_statistic=component(n, s["pre_sum"], s["pre_sum_squares"], binomial),
            post_pre_sum_of_products=s["sum_product"],
            theta=0,
        )
    if kind == "ratio":
        return RatioStatistic(
            n=n,
            m_statistic=component(n, s["m_sum"], s["m_sum_squares"], binomial),
            d_statistic=component(n, s["d_sum"], s["d_sum_squares"], binomial),
            m_d_sum_of_products=s["m_d_sum_product"],
        )
    raise ValueError(kind)


def run_pair(case: dict[str, Any]) -> dict[str, Any]:
    a = statistic(case["kind"], case["binomial"], case["a"])
    b = statistic(case["kind"], case["binomial"], case["b"])
    difference = "relative" if case["relative"] else "absolute"
    alpha = case["alpha"]
    test: Any
    if case["test"] == "bayesian":
        prior = case["prior"]
        config = EffectBayesianConfig(
            difference_type=difference,
            alpha=alpha,
            inverse=case["inverse"],
            prior_type="relative",
            prior_effect=GaussianPrior(
                mean=prior["mean"], variance=prior["variance"], proper=prior["proper"]
            ),
        )
        test = EffectBayesianABTest(a, b, config)
    elif case["test"] == "sequential":
        test = SequentialTwoSidedTTest(
            a,
            b,
            SequentialConfig(
                difference_type=difference,
                alpha=alpha,
                sequential_tuning_parameter=case["tuning"],
            ),
        )
    else:
        test = TwoSidedTTest(a, b, FrequentistConfig(difference_type=difference, alpha=alpha))
    try:
        result = test.compute_result()
    except Exception as exc:  # gbstats' own failures are part of what the tests record
        return {"exception": f"{type(exc).__name__}: {exc}"}
    return {
        "expected": result.expected,
        "ci": [float(x) for x in result.ci],
        "stddev": float(result.uplift.stddev),
        "chance_to_win": getattr(result, "chance_to_win", None),
        "risk": [float(x) for x in result.risk] if hasattr(result, "risk") else None,
        "p_value": getattr(result, "p_value", None),
        "error": result.error_message,
    }


def run_srm(case: dict[str, Any]) -> float:
    return float(check_srm(case["users"], case["weights"]))


def run_pipeline(case: dict[str, Any]) -> Any:
    return process_experiment_results(case)


def main() -> None:
    # gbstats divides by zero in numpy on purpose in some degenerate cases; its answers,
    # not its warnings, are what the tests compare.
    warnings.simplefilter("ignore")
    batch = json.load(sys.stdin)
    answer = {
        "pairs": [run_pair(c) for c in batch.get("pairs", [])],
        "srm": [run_srm(c) for c in batch.get("srm", [])],
        "pipelines": [run_pipeline(c) for c in batch.get("pipelines", [])],
    }
    json.dump(answer, sys.stdout, default=float)


if __name__ == "__main__":
    main()
