"""Treatment's effect over control, its variance (delta method), Welch's degrees of freedom."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from services.experiments.stats._moments import Arm


class Effect(msgspec.Struct, frozen=True):
    """A point estimate with the variance of its sampling distribution."""

    estimate: float
    variance: float
    dof: float


def point_estimate(control: Arm, treatment: Arm, relative: bool) -> float:
    """(treatment - control), divided by the control's observed mean when relative."""
    difference = treatment.mean - control.mean
    return difference / control.raw_mean if relative else difference


def effect(control: Arm, treatment: Arm, relative: bool) -> Effect:
    """Estimate and variance; both arms must have positive variance (and, if relative, a
    non-zero control mean).

    The relative variance is the first-order (delta method) variance of the ratio of two
    independent means, using the observed means as the scale, as GrowthBook does.
    """
    a, b = control, treatment
    var_a, var_b = a.variance / a.n, b.variance / b.n
    if relative:
        variance = var_b / a.raw_mean**2 + var_a * b.raw_mean**2 / a.raw_mean**4
    else:
        variance = var_b + var_a
    return Effect(point_estimate(a, b, relative), variance, welch_dof(a, b))


def welch_dof(a: Arm, b: Arm) -> float:
    """Welch-Satterthwaite degrees of freedom of the difference of the two means."""
    var_a, var_b = a.variance / a.n, b.variance / b.n
    return (var_a + var_b) ** 2 / (var_a**2 / (a.n - 1) + var_b**2 / (b.n - 1))
