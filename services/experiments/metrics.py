"""What an experiment computes: its scope and the per-person value columns of its metrics.

Each metric is a value per exposed person, over that person's events in the window after their
first exposure (never past the end); people without events count 0. The SQL computing exposures
and these values over ingest's events is ``repo.events``; ``people`` stores the rows and sums
them per variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from schemas.experiments import MetricIn


@dataclass(frozen=True)
class Scope:
    """Whose exposures count: the flag and its variants, the window, the exposure rule."""

    project_id: int
    flag_key: str
    variants: list[str]
    start: datetime
    end: datetime
    keep_first: bool


@dataclass(frozen=True)
class Column:
    """One per-person value computed in the shared scan: a metric, or its CUPED covariate."""

    metric: MetricIn
    pre: bool = False


def event_names(columns: list[Column]) -> list[str]:
    """The events the columns read (besides exposures)."""
    names = set()
    for c in columns:
        names.update(c.metric.steps or [])
        if c.metric.event:
            names.add(c.metric.event)
    return sorted(names)
