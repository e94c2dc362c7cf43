"""The experiments service's settings: ``DEVFLOW_EXPERIMENTS_*``, read once at start-up."""

from __future__ import annotations

from typing import ClassVar

import msgspec

PREFIX = "DEVFLOW_EXPERIMENTS_"


class ExperimentsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Each field ``x`` is read from ``DEVFLOW_EXPERIMENTS_X``."""

    ENV_PREFIX: ClassVar[str] = PREFIX

    # How often running experiments' results are kept warm (the periodic job's interval).
    refresh_interval_s: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.refresh_interval_s <= 86_400:
            raise ValueError(f"{PREFIX}REFRESH_INTERVAL_S: must be 1 to 86400")
