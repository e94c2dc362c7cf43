"""Degenerate input, guards, SRM flagging, the sample size calculator, and the places where we
deliberately answer differently from gbstats (each checked against an independent reference)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from services.experiments.stats import (
    SRM_THRESHOLD,
    Analysis,
    RatioStats,
    SampleStats,
    VariantResult,
    analyze,
    running_days,
    sample_size,
    srm,
)
from tests.experiments import cases
from tests.experiments.oracle.venv import run_oracle

NO_GUARDS = {"min_sample": 0, "min_conversions": 0}


def conversions(n: int, k: int) -> SampleStats:
    return SampleStats(n=n, sum=k, sum_squares=k)


def values(xs: list[float] | np.ndarray) -> SampleStats:
    arr = np.asarray(xs, dtype=float)
    return SampleStats(n=len(arr), sum=float(arr.sum()), sum_squares=float((arr**2).sum()))


def one(control: SampleStats | RatioStats, treatment: SampleStats | RatioStats, **kw: object):
    [result] = analyze(control, {"b": treatment}, Analysis(**kw))  # type: ignore[arg-type]
    return result


def assert_no_inference(r: VariantResult) -> None:
    assert r.interval is None
    assert r.effect_stddev is None
    assert r.chance_to_win is None
    assert r.risk is None
    assert r.p_value is None
    assert not r.significant


# -- degenerate data: explicit statuses, never NaN or an exception ----------------------------


@pytest.mark.parametrize("engine", ["bayesian", "frequentist"])
def test_an_empty_arm_is_reported_as_empty(engine: str) -> None:
    for control, treatment in [
        (conversions(0, 0), conversions(500, 40)),
        (conversions(500, 40), conversions(0, 0)),
    ]:
        r = one(control, treatment, engine=engine, metric="proportion", **NO_GUARDS)
        assert r.status == "empty"
        assert r.effect is None
        assert_no_inference(r)


def test_a_ratio_arm_whose_denominator_is_zero_is_empty() -> None:
    fine = RatioStats(
        n=100, m_sum=450, m_sum_squares=4000, d_sum=150, d_sum_squares=300, m_d_sum_product=900
    )
    no_orders = RatioStats(
        n=100, m_sum=0, m_sum_squares=0, d_sum=0, d_sum_squares=0, m_d_sum_product=0
    )
    assert one(no_orders, fine, **NO_GUARDS).status == "empty"
    assert one(fine, no_orders, **NO_GUARDS).status == "empty"


def test_zero_control_mean_blocks_relative_effects_only() -> None:
    control, treatment = conversions(1000, 0), conversions(1000, 12)
    r = one(control, treatment, metric="proportion", **NO_GUARDS)
    assert r.status == "zero_control_mean"
    assert r.effect is None
    assert_no_inference(r)
    # Absolute: the difference is defined, but a control with no conversions has no variance.
    r = one(control, treatment, metric="proportion", relative=False, **NO_GUARDS)
    assert r.status == "zero_variance"
    assert r.effect == pytest.approx(0.012)


def test_a_relative_prior_has_no_absolute_scale_when_the_control_mean_is_zero() -> None:
    # values -1 and +1 in equal numbers: mean 0 with positive variance
    control = values([-1.0] * 200 + [1.0] * 200)
    treatment = values([-1.0] * 180 + [1.0] * 220)
    r = one(control, treatment, relative=False, prior_variance=0.01, **NO_GUARDS)
    assert r.status == "zero_control_mean"
    assert one(control, treatment, relative=False, **NO_GUARDS).status == "ok"


def test_zero_variance_reports_the_observed_effect_and_nothing_more() -> None:
    r = one(values([3.0] * 200), values([4.0] * 200), **NO_GUARDS)
    assert r.status == "zero_variance"
    assert r.effect == pytest.approx(1 / 3)
    assert_no_inference(r)
    # A single unit per arm has no sample variance either.
    assert one(values([5.0]), values([7.0]), **NO_GUARDS).status == "zero_variance"
    # Everyone converting: p(1 - p) = 0.
    r = one(conversions(500, 500), conversions(500, 480), metric="proportion", **NO_GUARDS)
    assert r.status == "zero_variance"
    assert r.effect == pytest.approx(-0.04)


def test_float_noise_in_the_sums_of_a_constant_metric_is_zero_variance(
    gbstats_python: Path,
) -> None:
    """A constant non-integer metric summed in floating point leaves a tiny positive
    "variance" of pure rounding error. gbstats takes it at face value and reports a confident
    interval around noise; we report zero variance."""
    # summed one unit after another, as a database aggregate does
    control = SampleStats(n=1000, sum=sum([9.99] * 1000), sum_squares=sum([9.99**2] * 1000))
    treatment = SampleStats(n=100000, sum=sum([9.99] * 100000), sum_squares=sum([9.99**2] * 100000))
    for s in (control, treatment):  # the premise: rounding left a positive residue
        assert s.sum_squares - s.sum**2 / s.n > 0
    case = cases.PairCase(
        cases.Dataset("constant", "mean", control, treatment),
        cases.Setting("freq", "frequentist", relative=True),
    )
    [theirs] = run_oracle(gbstats_python, {"pairs": [case.oracle()]})["pairs"]
    assert theirs["error"] is None
    assert 0 < theirs["stddev"] < 1e-6  # an "estimate" resting on rounding error

    r = one(control, treatment, engine="frequentist", **NO_GUARDS)
    assert r.status == "zero_variance"
    assert r.effect == pytest.approx(0.0, abs=1e-12)


def test_cuped_with_a_constant_covariate_falls_back_to_the_unadjusted_analysis() -> None:
    def with_constant_pre(post: SampleStats) -> SampleStats:
        return SampleStats(
            n=post.n,
            sum=post.sum,
            sum_squares=post.sum_squares,
            pre_sum=2.0 * post.n,
            pre_sum_squares=4.0 * post.n,
            sum_product=2.0 * post.sum,
        )

    rng = np.random.default_rng(3)
    a, b = values(rng.gamma(2, 3, 500)), values(rng.gamma(2, 3.3, 500))
    plain = one(a, b, **NO_GUARDS)
    adjusted = one(with_constant_pre(a), with_constant_pre(b), cuped=True, **NO_GUARDS)
    assert adjusted == plain


def test_cuped_reduces_the_variance_of_a_correlated_metric() -> None:
    rng = np.random.default_rng(5)
    stats_ = []
    for lift in (0.0, 0.5):
        pre = rng.gamma(2.0, 5.0, 4000)
        post = 0.9 * pre + rng.normal(1.0, 2.0, 4000) + lift
        stats_.append(cases._cuped(post, pre))
    plain = one(*stats_, engine="frequentist", **NO_GUARDS)
    adjusted = one(*stats_, engine="frequentist", cuped=True, **NO_GUARDS)
    assert plain.effect_stddev is not None
    assert adjusted.effect_stddev is not None
    assert adjusted.effect_stddev < 0.5 * plain.effect_stddev
    assert adjusted.value == plain.value  # displayed means stay the observed ones


def test_no_result_holds_nan_or_infinity() -> None:
    for dataset in (*cases.edge_datasets(), *cases.simulated_datasets()):
        for setting in cases.settings():
            for guards in ({}, NO_GUARDS):
                analysis = cases.make_analysis(dataset.kind, setting)
                analysis = Analysis(
                    **{
                        **{f: getattr(analysis, f) for f in analysis.__struct_fields__},
                        **guards,
                    }
                )
                [r] = analyze(dataset.control, {"b": dataset.treatment}, analysis)
                numbers = [r.value, r.baseline, r.effect, r.effect_stddev, r.chance_to_win]
                numbers += [r.p_value, *(r.interval or ()), *(r.risk or ())]
                assert all(math.isfinite(x) for x in numbers if x is not None), (dataset, r)


# -- minimum-sample guards --------------------------------------------------------------------


def test_too_few_units_in_either_arm_is_too_little_data() -> None:
    analysis = {"min_sample": 100, "min_conversions": 0, "metric": "proportion"}
    assert one(conversions(99, 30), conversions(5000, 900), **analysis).status == (
        "too_little_data"
    )
    assert one(conversions(5000, 900), conversions(99, 30), **analysis).status == (
        "too_little_data"
    )
    r = one(conversions(100, 30), conversions(100, 35), **analysis)
    assert r.status == "ok"


def test_the_conversion_guard_needs_one_arm_to_reach_it() -> None:
    analysis = {"min_sample": 0, "min_conversions": 150, "metric": "proportion"}
    r = one(conversions(4000, 100), conversions(4000, 149), **analysis)
    assert r.status == "too_little_data"
    assert r.effect is None
    assert_no_inference(r)
    # One arm at the threshold is enough: a treatment that kills conversions must show.
    r = one(conversions(4000, 150), conversions(4000, 20), **analysis)
    assert r.status == "ok"
    assert r.significant


def test_guards_are_on_by_default_and_zero_turns_the_conversion_guard_off() -> None:
    assert Analysis().min_sample == 100
    assert Analysis().min_conversions == 150
    assert one(conversions(200, 20), conversions(200, 25), metric="proportion").status == (
        "too_little_data"
    )
    # A metric that can be negative has no conversion count: 0 switches that guard off.
    profit = values(np.linspace(-5, 3, 300))
    assert one(profit, profit, min_conversions=0).status == "ok"


def test_guards_come_after_emptiness() -> None:
    assert one(conversions(0, 0), conversions(50, 5)).status == "empty"


# -- several treatments -----------------------------------------------------------------------


def test_each_treatment_is_compared_with_control_on_its_own() -> None:
    rng = np.random.default_rng(9)
    control = cases.simulate("cuped_mean", 3000, 0.0, rng)
    treatments = {
        f"t{i}": cases.simulate("cuped_mean", 3000, lift, rng)
        for i, lift in enumerate((0.0, 0.05, 0.2))
    }
    analysis = Analysis(cuped=True, **NO_GUARDS)
    together = analyze(control, treatments, analysis)
    assert [r.key for r in together] == ["t0", "t1", "t2"]
    for r, (key, t) in zip(together, treatments.items(), strict=True):
        assert r == analyze(control, {key: t}, analysis)[0]
    assert analyze(control, {}, analysis) == []


# -- significance is what the interval says ---------------------------------------------------


@pytest.mark.parametrize("sequential", [False, True])
def test_frequentist_significance_matches_the_interval(sequential: bool) -> None:
    rng = np.random.default_rng(13)
    for lift in np.linspace(-0.15, 0.15, 31):
        a = cases.simulate("proportion", 5000, 0.0, rng)
        b = cases.simulate("proportion", 5000, float(lift), rng)
        r = one(a, b, engine="frequentist", metric="proportion", sequential=sequential)
        assert r.status == "ok"
        assert r.interval is not None
        assert r.p_value is not None
        excludes_zero = r.interval[0] > 0 or r.interval[1] < 0
        assert r.significant == (r.p_value < 0.05) == excludes_zero


def test_sequential_intervals_are_wider_than_fixed_horizon_ones() -> None:
    a, b = conversions(10000, 800), conversions(10000, 880)
    fixed = one(a, b, engine="frequentist", metric="proportion")
    always_valid = one(a, b, engine="frequentist", metric="proportion", sequential=True)
    assert fixed.interval is not None
    assert always_valid.interval is not None
    assert fixed.effect == always_valid.effect
    assert (
        always_valid.interval[0]
        < fixed.interval[0]
        < fixed.interval[1]
        < (always_valid.interval[1])
    )
    assert always_valid.p_value is not None
    assert fixed.p_value is not None
    assert always_valid.p_value > fixed.p_value


def test_bayesian_significance_is_a_decisive_chance_to_win() -> None:
    r = one(conversions(10000, 800), conversions(10000, 900), metric="proportion")
    assert r.chance_to_win is not None
    assert r.chance_to_win > 0.95
    assert r.significant
    r = one(conversions(10000, 800), conversions(10000, 810), metric="proportion")
    assert not r.significant
    # lower is better: the same data is a loss
    r = one(conversions(10000, 800), conversions(10000, 900), metric="proportion", inverse=True)
    assert r.chance_to_win is not None
    assert r.chance_to_win < 0.05
    assert r.significant


# -- where we answer and gbstats does not: independent references -----------------------------


def zero_mean_arms() -> tuple[np.ndarray, np.ndarray]:
    control = np.array([-1.0] * 200 + [1.0] * 200)  # mean exactly 0
    treatment = np.array([-1.0] * 180 + [1.0] * 220 + [3.0] * 10)
    return control, treatment


def test_absolute_welch_test_over_a_zero_control_mean_matches_scipy() -> None:
    """gbstats' frequentist test declines any zero control mean; an absolute effect does not
    divide by it, so we run Welch's test, which must be scipy's."""
    control, treatment = zero_mean_arms()
    r = one(values(control), values(treatment), engine="frequentist", relative=False, **NO_GUARDS)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    ci = reference.confidence_interval(0.95)
    assert r.status == "ok"
    assert r.baseline == 0
    assert r.effect == pytest.approx(treatment.mean() - control.mean(), rel=1e-9)
    assert r.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert r.interval == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_absolute_flat_prior_posterior_over_a_zero_control_mean_matches_integration() -> None:
    """gbstats divides by zero here rescaling even a flat prior. Ours is the normal posterior
    N(difference, se^2); its chance to win and risks are checked by numerical integration."""
    control, treatment = zero_mean_arms()
    r = one(values(control), values(treatment), relative=False, **NO_GUARDS)
    diff = treatment.mean() - control.mean()
    se = math.sqrt(treatment.var(ddof=1) / len(treatment) + control.var(ddof=1) / len(control))
    posterior = stats.norm(diff, se)
    loss_control = integrate.quad(lambda x: x * posterior.pdf(x), 0, np.inf)[0]
    loss_treatment = integrate.quad(lambda x: -x * posterior.pdf(x), -np.inf, 0)[0]
    assert r.status == "ok"
    assert r.effect == pytest.approx(diff, rel=1e-9)
    assert r.effect_stddev == pytest.approx(se, rel=1e-9)
    assert r.chance_to_win == pytest.approx(posterior.sf(0), rel=1e-9)
    assert r.risk == pytest.approx((loss_control, loss_treatment), rel=1e-7)
    assert r.interval == pytest.approx(posterior.interval(0.95), rel=1e-9)


def test_tiny_p_values_are_kept_rather_than_rounded_to_zero() -> None:
    """gbstats computes 2 (1 - cdf), which is exactly 0 beyond ~1e-16; we use the survival
    function, as scipy's t-test does."""
    a, b = conversions(1_000_000, 50_000), conversions(1_000_000, 56_000)
    r = one(a, b, engine="frequentist", metric="proportion", relative=False)
    p_a, p_b = 0.05, 0.056
    se = math.sqrt(p_a * (1 - p_a) / 1e6 + p_b * (1 - p_b) / 1e6)
    dof = se**4 / (
        (p_a * (1 - p_a) / 1e6) ** 2 / (1e6 - 1) + (p_b * (1 - p_b) / 1e6) ** 2 / (1e6 - 1)
    )
    assert r.p_value is not None
    assert 0 < r.p_value < 1e-70
    assert r.p_value == pytest.approx(2 * stats.t.sf((p_b - p_a) / se, dof), rel=1e-6)


# -- sample ratio mismatch --------------------------------------------------------------------


def test_srm_is_flagged_below_one_in_a_thousand() -> None:
    assert SRM_THRESHOLD == 0.001
    mild = srm([5000, 5300], [0.5, 0.5])
    assert 0.001 < mild.p_value < 0.01
    assert not mild.mismatch
    strong = srm([5000, 5400], [0.5, 0.5])
    assert strong.p_value < 0.001
    assert strong.mismatch
    assert srm([2000, 8000], [0.2, 0.8]) == srm([2000, 8000], [1, 4])


def test_srm_matches_scipys_chi_square() -> None:
    counts, weights = [1040, 980, 2010], [0.25, 0.25, 0.5]
    expected = np.array(weights) * sum(counts)
    assert srm(counts, weights).p_value == pytest.approx(
        stats.chisquare(counts, expected).pvalue, rel=1e-12
    )


def test_srm_with_a_switched_off_variant() -> None:
    """gbstats skips zero-weight variants but keeps them in the degrees of freedom, and ignores
    units that reached them. We drop them from the test, and units in one are a certain
    mismatch (traffic that should not exist)."""
    with_off = srm([1040, 980, 0], [0.5, 0.5, 0.0])
    without = srm([1040, 980], [0.5, 0.5])
    assert with_off == without
    assert with_off.p_value == pytest.approx(stats.chisquare([1040, 980]).pvalue, rel=1e-12)
    leaked = srm([1040, 980, 3], [0.5, 0.5, 0.0])
    assert leaked.p_value == 0.0
    assert leaked.mismatch


def test_srm_without_units_or_comparison_is_no_mismatch() -> None:
    assert srm([0, 0], [0.5, 0.5]).p_value == 1.0
    assert srm([120, 0], [1.0, 0.0]).p_value == 1.0


def test_srm_rejects_inconsistent_input() -> None:
    with pytest.raises(ValueError):
        srm([1, 2], [0.5])
    with pytest.raises(ValueError):
        srm([1, 2], [0.0, 0.0])
    with pytest.raises(ValueError):
        srm([-1, 2], [0.5, 0.5])


# -- sample size and running time -------------------------------------------------------------


def test_sample_size_matches_evan_millers_calculator() -> None:
    # The calculator's default example: 20% baseline, 5 points absolute, alpha 5%, power 80%.
    assert sample_size(0.2, 0.05, relative=False) == 1030
    # 10% baseline, 2 points absolute
    assert sample_size(0.1, 0.02, relative=False) == 3623


def test_sample_size_relative_effects_and_settings() -> None:
    assert sample_size(0.2, 0.25) == sample_size(0.2, 0.05, relative=False)
    # Rates above one half are mirrored, as in the calculator.
    assert sample_size(0.8, 0.05, relative=False) == sample_size(0.2, 0.05, relative=False)
    # Stricter alpha, more power or a smaller effect all need more units.
    base = sample_size(0.1, 0.1)
    assert sample_size(0.1, 0.1, alpha=0.01) > base
    assert sample_size(0.1, 0.1, power=0.9) > base
    assert sample_size(0.1, 0.05) > 3.5 * base


def test_sample_size_against_the_normal_approximation_formula() -> None:
    p, delta = 0.03, 0.006
    z_a, z_b = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    n = (
        z_a * math.sqrt(2 * p * (1 - p))
        + z_b * math.sqrt(p * (1 - p) + (p + delta) * (1 - p - delta))
    ) ** 2 / delta**2
    assert sample_size(p, 0.2) == round(n)


def test_sample_size_rejects_impossible_plans() -> None:
    for args in [(0.0, 0.1), (1.0, 0.1), (0.2, 0.0), (0.4, 0.7, 0.05, 0.8, False)]:
        with pytest.raises(ValueError):
            sample_size(*args)  # type: ignore[arg-type]


def test_running_days() -> None:
    assert running_days(1030, 2, 500) == 5  # 2060 units at 500 a day: 4.12 -> 5 days
    assert running_days(1000, 2, 500) == 4
    with pytest.raises(ValueError):
        running_days(1000, 2, 0)


# -- inconsistent input is a programming error ------------------------------------------------


def test_inconsistent_input_raises() -> None:
    ratio = RatioStats(n=10, m_sum=1, m_sum_squares=1, d_sum=1, d_sum_squares=1, m_d_sum_product=1)
    with pytest.raises(ValueError):
        analyze(conversions(10, 1), {"b": ratio}, Analysis())
    with pytest.raises(ValueError):
        analyze(ratio, {"b": ratio}, Analysis(cuped=True))
    with pytest.raises(ValueError):
        analyze(values([1.0, 2.0]), {"b": values([1.0, 3.0])}, Analysis(cuped=True))
    with pytest.raises(ValueError):
        analyze(conversions(10, 11), {"b": conversions(10, 1)}, Analysis(metric="proportion"))
    with pytest.raises(ValueError):
        SampleStats(n=-1, sum=0, sum_squares=0)
    with pytest.raises(ValueError):
        SampleStats(n=1, sum=math.nan, sum_squares=0)
    for bad in (
        {"confidence": 1.0},
        {"sequential": True},  # the Bayesian engine has no sequential mode
        {"prior_variance": 0.0},
        {"sequential_tuning": 0.0, "engine": "frequentist"},
    ):
        with pytest.raises(ValueError):
            Analysis(**bad)  # type: ignore[arg-type]
