"""The churn service's settings, read once at start-up and reached through
``ctx.settings_of(ChurnConfig)``."""

from __future__ import annotations

from typing import ClassVar

import msgspec


class ChurnConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Each field ``x`` is read from ``DEVFLOW_X``."""

    ENV_PREFIX: ClassVar[str] = "DEVFLOW_"

    # Flags whose exposures become features: the most-called ones, at most this many.
    churn_top_flags: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.churn_top_flags <= 100:
            raise ValueError("DEVFLOW_CHURN_TOP_FLAGS: must be 0 to 100")
