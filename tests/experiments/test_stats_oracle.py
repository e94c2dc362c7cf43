"""Our statistics engine against GrowthBook's gbstats 0.8.0 on a grid of inputs.

gbstats runs in a venv of its own (see oracle/venv.py), once per module, on every case at
once. Numbers must agree to 1e-6 relative; an absolute 1e-12 floor covers p-values and risks
so small that gbstats' ``1 - cdf`` loses them to cancellation. Where gbstats declines to answer
(its ``error_message``, or an exception) our result must carry a matching status; the one case
where we answer and it does not (an absolute effect over a zero control mean) is checked
against scipy in test_stats_edges.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from services.experiments.stats import VariantResult, analyze, srm
from tests.experiments import cases
from tests.experiments.conftest import COMPARED
from tests.experiments.oracle.venv import run_oracle

PAIRS = cases.pair_cases()
PIPELINES = cases.pipeline_cases()
SRMS = cases.srm_cases()

# Which of gbstats' refusals each of our statuses stands for. gbstats checks a zero control
# mean before emptiness, and (frequentist) even for absolute effects, so the sets overlap.
REFUSALS = {
    "empty": {
        "NO_UNITS_IN_VARIATION",
        "ZERO_NEGATIVE_BASELINE_VARIATION",
        "ZERO_NEGATIVE_VARIANCE",
    },
    "zero_control_mean": {
        "ZERO_NEGATIVE_BASELINE_VARIATION",
        "ZERO_NEGATIVE_VARIANCE",
        # absolute effect, proper prior, control mean 0: rescaling the prior divides by zero
        "ZeroDivisionError",
    },
    "zero_variance": {"ZERO_NEGATIVE_VARIANCE", "ZERO_NEGATIVE_BASELINE_VARIATION"},
}


def close(ours: float, theirs: float) -> bool:
    return math.isclose(ours, theirs, rel_tol=1e-6, abs_tol=1e-12)


def check(field: str, ours: float | None, theirs: float) -> None:
    assert ours is not None, f"{field}: ours is None, gbstats {theirs!r}"
    assert close(ours, theirs), f"{field}: ours {ours!r}, gbstats {theirs!r}"


def count(what: str) -> None:
    COMPARED[what] = COMPARED.get(what, 0) + 1


@pytest.fixture(scope="module")
def answers(gbstats_python: Path) -> dict[str, Any]:
    return run_oracle(
        gbstats_python,
        {
            "pairs": [c.oracle() for c in PAIRS],
            "pipelines": [c.oracle() for c in PIPELINES],
            "srm": [{"users": list(c.counts), "weights": list(c.weights)} for c in SRMS],
        },
    )


def test_the_grid_has_hundreds_of_cases() -> None:
    assert len(PAIRS) >= 500
    assert sum(len(c.variants) - 1 for c in PIPELINES) >= 100
    assert len(SRMS) >= 50


def compare_inference(ours: VariantResult, theirs: dict[str, Any], bayesian: bool) -> None:
    """Effect, interval, spread and the engine's own outputs, in gbstats' result shape."""
    check("effect", ours.effect, theirs["expected"])
    assert ours.interval is not None
    check("interval.lo", ours.interval[0], theirs["ci"][0])
    check("interval.hi", ours.interval[1], theirs["ci"][1])
    check("effect_stddev", ours.effect_stddev, theirs["stddev"])
    if bayesian:
        check("chance_to_win", ours.chance_to_win, theirs["chance_to_win"])
        assert ours.risk is not None
        check("risk.control", ours.risk[0], theirs["risk"][0])
        check("risk.treatment", ours.risk[1], theirs["risk"][1])
        assert ours.p_value is None
    else:
        check("p_value", ours.p_value, theirs["p_value"])
        assert ours.chance_to_win is None
        assert ours.risk is None


def refusal(theirs: dict[str, Any]) -> str | None:
    if "exception" in theirs:
        return str(theirs["exception"]).split(":", 1)[0]
    error: str | None = theirs["error"]
    return error


def assert_gbstats_default(theirs: dict[str, Any], bayesian: bool) -> None:
    """gbstats' placeholder answer when it declines: no effect, empty interval, a coin flip."""
    assert theirs["expected"] == 0
    assert theirs["ci"] == [0, 0]
    if bayesian:
        assert theirs["chance_to_win"] == 0.5
        assert theirs["risk"] == [0, 0]
    else:
        assert theirs["p_value"] == 1


@pytest.mark.parametrize("index", range(len(PAIRS)), ids=[c.id for c in PAIRS])
def test_pair_agrees_with_gbstats(index: int, answers: dict[str, Any]) -> None:
    case = PAIRS[index]
    theirs = answers["pairs"][index]
    analysis = case.analysis()
    [ours] = analyze(case.dataset.control, {"b": case.dataset.treatment}, analysis)
    bayesian = analysis.engine == "bayesian"
    declined = refusal(theirs)

    if ours.status == "ok" and declined is None:
        compare_inference(ours, theirs, bayesian)
        count("pairs")
    elif ours.status == "ok":
        # An absolute effect does not divide by the control mean, yet with a zero control mean
        # gbstats' frequentist test declines and its Bayesian test divides by zero rescaling
        # the (even flat) prior. test_stats_edges checks our answers against scipy instead.
        expected = "ZeroDivisionError" if bayesian else "ZERO_NEGATIVE_BASELINE_VARIATION"
        assert declined == expected, declined
        assert analysis.prior_variance is None
        assert not analysis.relative
        assert ours.baseline == 0
        count("pairs")
    else:
        assert declined in REFUSALS[ours.status], (ours.status, declined)
        if "exception" not in theirs:
            assert_gbstats_default(theirs, bayesian)
        assert ours.interval is None
        assert ours.chance_to_win is None
        assert ours.p_value is None
        assert ours.risk is None
        assert not ours.significant
        count("pairs")


@pytest.mark.parametrize("index", range(len(PIPELINES)), ids=[c.id for c in PIPELINES])
def test_experiment_agrees_with_gbstats_pipeline(index: int, answers: dict[str, Any]) -> None:
    """Several treatments against control through gbstats' own entry point."""
    case = PIPELINES[index]
    [metric] = answers["pipelines"][index]
    [dimension] = metric["analyses"][0]["dimensions"]
    baseline, *variations = dimension["variations"]
    analysis = case.analysis()
    control, *treatments = case.variants
    results = analyze(control, {str(i + 1): t for i, t in enumerate(treatments)}, analysis)

    assert [r.key for r in results] == [str(i + 1) for i in range(len(treatments))]
    assert len(results) == len(variations)
    for ours, theirs in zip(results, variations, strict=True):
        assert ours.status == "ok"
        assert theirs["errorMessage"] is None
        check("baseline", ours.baseline, baseline["cr"])
        check("value", ours.value, theirs["cr"])
        assert ours.n == theirs["users"]
        shaped = {
            "expected": theirs["expected"],
            "ci": theirs["ci"],
            "stddev": theirs["uplift"]["stddev"],
            "chance_to_win": theirs.get("chanceToWin"),
            "risk": theirs.get("risk"),
            "p_value": theirs.get("pValue"),
        }
        compare_inference(ours, shaped, analysis.engine == "bayesian")
        count("pipeline comparisons")
    counts = [v.n for v in case.variants]
    check("srm", srm(counts, case.weights).p_value, dimension["srm"])


@pytest.mark.parametrize("index", range(len(SRMS)), ids=[c.id for c in SRMS])
def test_srm_agrees_with_gbstats(index: int, answers: dict[str, Any]) -> None:
    case = SRMS[index]
    ours = srm(case.counts, case.weights)
    check("srm", ours.p_value, answers["srm"][index])
    assert ours.mismatch == (ours.p_value < 0.001)
    count("srm")
