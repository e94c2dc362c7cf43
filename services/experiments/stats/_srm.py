"""Sample ratio mismatch: do the observed variant sizes fit the configured traffic weights?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scipy import special  # type: ignore[import-untyped]  # scipy ships no type information

from services.experiments.stats._types import SrmResult

if TYPE_CHECKING:
    from collections.abc import Sequence

# Flag a mismatch only on strong evidence: the check runs on every refresh of every experiment.
SRM_THRESHOLD = 0.001


def srm(counts: Sequence[int], weights: Sequence[float]) -> SrmResult:
    """Pearson's chi-square goodness-of-fit test of the counts against the weights.

    Weights need not sum to 1. A variant with weight 0 takes no part in the test unless it
    received units, which is a certain mismatch (p = 0). No units at all gives p = 1.
    """
    if len(counts) != len(weights):
        raise ValueError("counts and weights must have the same length")
    if any(c < 0 for c in counts) or any(w < 0 for w in weights):
        raise ValueError("counts and weights must not be negative")
    total_weight = sum(weights)
    if total_weight <= 0:
        raise ValueError("at least one weight must be positive")
    total = sum(counts)
    if any(c > 0 and w == 0 for c, w in zip(counts, weights, strict=True)):
        return SrmResult(p_value=0.0, mismatch=True)
    arms = [(c, w) for c, w in zip(counts, weights, strict=True) if w > 0]
    if total == 0 or len(arms) < 2:
        return SrmResult(p_value=1.0, mismatch=False)
    statistic = 0.0
    for count, weight in arms:
        expected = weight / total_weight * total
        statistic += (count - expected) ** 2 / expected
    p_value = float(special.chdtrc(len(arms) - 1, statistic))
    return SrmResult(p_value=p_value, mismatch=p_value < SRM_THRESHOLD)
