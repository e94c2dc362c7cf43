"""The churn pipeline on generated data with a planted effect; skops round trip."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from services.churn import model

if TYPE_CHECKING:
    from pathlib import Path

N = 3000


def planted(seed: int) -> tuple[Any, Any]:
    """Churn driven by low activity and the "free" plan; "noise" has no effect."""
    rng = np.random.default_rng(seed)
    activity = rng.normal(size=N)
    noise = rng.normal(size=N)
    plan = rng.choice(["free", "pro", "team"], size=N)
    logit = -1.0 - 2.0 * activity + np.where(plan == "free", 1.5, 0.0)
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(np.int_)
    x = np.empty((N, 3), dtype=object)
    x[:, 0] = np.where(rng.random(N) < 0.05, np.nan, activity)  # some missing
    x[:, 1] = noise
    x[:, 2] = plan
    return x, y


@pytest.mark.parametrize("kind", ["model", "baseline"])
def test_recovers_the_planted_effect(kind: model.Kind) -> None:
    x, y = planted(1)
    fitted = model.fit(model.build([0, 1], [2], kind), x[:2000], y[:2000])
    m = model.evaluate(y[2000:], model.scores(fitted, x[2000:]))
    assert m.roc_auc > 0.8
    assert m.pr_auc > float(np.mean(y[2000:])) + 0.2
    assert m.brier < 0.2
    assert m.lift_top_decile > 1.8
    # Counterfactuals over the holdout: lower activity raises the mean churn probability, the
    # free plan too; noise changes it little.
    assert mean_score(fitted, x[2000:], 0, lambda v: v - 1.0) > mean_score(fitted, x[2000:]) + 0.1
    assert mean_score(fitted, x[2000:], 2, lambda _: "free") > (
        mean_score(fitted, x[2000:], 2, lambda _: "team") + 0.1
    )
    noisy = mean_score(fitted, x[2000:], 1, lambda v: v + 1.0)
    assert abs(noisy - mean_score(fitted, x[2000:])) < 0.05


def mean_score(fitted: Any, x: Any, col: int = 0, change: Any = None) -> float:
    """Mean churn probability of ``x`` with column ``col`` changed by ``change``."""
    x = x.copy()
    if change is not None:
        x[:, col] = [change(v) for v in x[:, col]]
    return float(np.mean(model.scores(fitted, x)))


def test_unknown_category_is_ignored() -> None:
    x, y = planted(2)
    fitted = model.fit(model.build([0, 1], [2]), x, y)
    p = model.scores(fitted, np.array([[0.0, 0.0, "enterprise"]], dtype=object))
    assert 0.0 < p[0] < 1.0


def test_lift_of_a_perfect_and_a_random_ranking() -> None:
    y = np.array([1] * 10 + [0] * 90)
    assert model.lift_top_decile(y, np.linspace(1, 0, 100)) == pytest.approx(10.0)
    assert model.lift_top_decile(y, np.linspace(0, 1, 100)) == 0.0


def test_skops_round_trip_gives_the_same_scores(tmp_path: Path) -> None:
    x, y = planted(3)
    fitted = model.fit(model.build([0, 1], [2]), x, y)
    path = tmp_path / "churn.skops"
    model.save(fitted, path)
    again = model.load(path)
    assert np.array_equal(model.scores(again, x[:50]), model.scores(fitted, x[:50]))


def test_load_refuses_untrusted_types(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    x, y = planted(4)
    path = tmp_path / "other.skops"
    model.save(model.fit(model.build([0, 1], [2]), x, y), path)
    from skops import io as skio

    skio.dump(DecisionTreeClassifier().fit(x[:, :2].astype(float), y), path)
    with pytest.raises(ValueError, match="untrusted types"):
        model.load(path)
