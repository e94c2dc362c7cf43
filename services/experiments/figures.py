"""Figures as the results dashboard prints them: percentages, numbers, effects, times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.experiments import ExperimentOut

MINUS = "\u2212"
PROPORTIONS = ("conversion", "funnel")


def _signed(text: str) -> str:
    return text.replace("-", MINUS)


def percent(x: float, digits: int = 1) -> str:
    """A share as a percentage with a true minus sign: 12.3%."""
    return _signed(f"{x * 100:.{digits}f}%")


def number(x: float) -> str:
    """A number with fewer decimals the larger it is: 1,234, 123.4, 12.34, 0.0123."""
    size = abs(x)
    if size >= 1000:
        return _signed(f"{x:,.0f}")
    if size >= 100:
        return _signed(f"{x:.1f}")
    if size >= 1 or size == 0:
        return _signed(f"{x:.2f}")
    return _signed(f"{x:.3g}")


def metric_value(x: float, kind: str) -> str:
    """A metric's value: a percentage for conversions and funnels, else a number."""
    return percent(x) if kind in PROPORTIONS else number(x)


def effect_text(x: float, kind: str, relative: bool) -> str:
    """An effect, signed: +5.0% relative, +1.2 pp for an absolute proportion, else a number."""
    if relative:
        return _signed(f"{x * 100:+.1f}%")
    if kind in PROPORTIONS:
        return _signed(f"{x * 100:+.1f} pp")
    return ("+" if x > 0 else "") + number(x)


def axis_effect(x: float, kind: str, relative: bool) -> str:
    """A round tick of an effect axis: +20%, 0%, -1.5 pp."""
    unit = "%" if relative else " pp" if kind in PROPORTIONS else ""
    v = round(x * 100 if unit else x, 6)
    return f"0{unit}" if v == 0 else _signed(f"{v:+g}{unit}")


def axis_value(x: float, kind: str) -> str:
    """A round tick of a metric's axis: 20%, 1.5."""
    return f"{round(x * 100, 6):g}%" if kind in PROPORTIONS else _signed(f"{round(x, 6):g}")


def risk_text(x: float, kind: str, relative: bool) -> str:
    """An expected loss, in the effect's unit, with room for small values."""
    if relative:
        return percent(x, 2)
    return f"{x * 100:.2f} pp" if kind in PROPORTIONS else number(x)


def chance_text(x: float) -> str:
    """A chance to win as a percentage, capped at >99.9% and <0.1%."""
    if x >= 0.999:
        return ">99.9%"
    if x <= 0.001:
        return "<0.1%"
    return percent(x)


def p_value_text(p: float) -> str:
    """A p-value to three decimals, <0.001 below that."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def when(moment: datetime | None) -> str:
    """A moment in UTC, e.g. Mar 4, 2026 09:30 UTC; a dash for none."""
    return moment.astimezone(UTC).strftime("%b %-d, %Y %H:%M UTC") if moment else "—"


def day_label(day: date) -> str:
    """A chart's day label, e.g. Mar 4."""
    return day.strftime("%b %-d")


def duration(days: float) -> str:
    """A running time: whole hours under a day, else days to one decimal."""
    if days < 1:
        hours = max(round(days * 24), 0)
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return f"{days:.1f} days"


def settings_text(exp: ExperimentOut) -> str:
    """The analysis settings in a few words: engine, level, effect scale, CUPED."""
    a = exp.analysis
    parts = [
        ("Sequential " if a.sequential else "") + a.engine.capitalize(),
        f"{a.confidence * 100:g}%",
        "relative effects" if a.relative else "absolute effects",
    ]
    if a.cuped:
        parts.append(f"CUPED ({a.pre_period_days:g} days before)")
    return " · ".join(parts)
