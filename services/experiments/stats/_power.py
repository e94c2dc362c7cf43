"""Planning: units needed per variant to detect an effect on a conversion rate, and for how long."""

from __future__ import annotations

import math

from scipy import special  # type: ignore[import-untyped]  # scipy ships no type information


def sample_size(
    baseline_rate: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    relative: bool = True,
) -> int:
    """Units per variant for a two-sided test of two proportions (Evan Miller's calculator).

    ``mde`` is the minimum detectable effect, relative to ``baseline_rate`` (0.1 = a 10% lift)
    or absolute (0.01 = one percentage point). As in the calculator, a baseline above 50% is
    mirrored to 1 - baseline, and the result is rounded to the nearest unit.
    """
    if not 0 < baseline_rate < 1:
        raise ValueError("baseline_rate must be between 0 and 1")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must be between 0 and 1")
    if mde <= 0:
        raise ValueError("mde must be positive")
    delta = mde * baseline_rate if relative else mde
    p = min(baseline_rate, 1.0 - baseline_rate)
    if p + delta >= 1:
        raise ValueError("baseline_rate + effect must stay below 1")
    z_alpha = float(special.ndtri(1.0 - alpha / 2.0))
    z_power = float(special.ndtri(power))
    sd_null = math.sqrt(2.0 * p * (1.0 - p))
    sd_alternative = math.sqrt(p * (1.0 - p) + (p + delta) * (1.0 - p - delta))
    n = (z_alpha * sd_null + z_power * sd_alternative) ** 2 / delta**2
    return math.floor(n + 0.5)


def running_days(per_variant: int, variants: int, daily_units: float) -> int:
    """Whole days until every one of ``variants`` variants (control included) has
    ``per_variant`` units, when ``daily_units`` units enter the experiment each day."""
    if per_variant < 0 or variants < 1 or daily_units <= 0:
        raise ValueError("need per_variant >= 0, variants >= 1 and daily_units > 0")
    return math.ceil(per_variant * variants / daily_units)
