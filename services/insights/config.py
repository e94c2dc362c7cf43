"""The insights service's settings: ``DEVFLOW_INSIGHTS_*``, read once at start-up by the kernel's
reader (services.core.settings.read) and reached through ``ctx.settings_of(InsightsConfig)``."""

from __future__ import annotations

from typing import ClassVar

import msgspec

PREFIX = "DEVFLOW_INSIGHTS_"


class InsightsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Each field ``x`` is read from ``DEVFLOW_INSIGHTS_X``."""

    ENV_PREFIX: ClassVar[str] = PREFIX

    # A query's statements are cancelled after this long.
    statement_timeout_ms: int = 30_000
    # The most buckets one series may have (e.g. 2000 hours), so a typo can't ask for millions.
    max_buckets: int = 2000
    # Breakdown values kept when the query sets no breakdown_limit (PostHog's default is 25).
    breakdown_limit: int = 25
    # The most series (trends) or steps (funnels) of one query.
    max_series: int = 20
    # Serve total counts from ingest's hourly rollup where exact (see docs/insights.md).
    use_rollups: bool = True

    def __post_init__(self) -> None:
        if not self.statement_timeout_ms > 0:
            raise ValueError(f"{PREFIX}STATEMENT_TIMEOUT_MS: must be > 0")
        if not 1 <= self.max_buckets <= 100_000:
            raise ValueError(f"{PREFIX}MAX_BUCKETS: must be 1 to 100000")
        if not 1 <= self.breakdown_limit <= 1000:
            raise ValueError(f"{PREFIX}BREAKDOWN_LIMIT: must be 1 to 1000")
        if not 1 <= self.max_series <= 100:
            raise ValueError(f"{PREFIX}MAX_SERIES: must be 1 to 100")
