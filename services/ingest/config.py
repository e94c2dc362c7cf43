"""The ingest service's settings: capture, the events writer and storage upkeep.

Their variables keep the names they had when they were kernel settings (``DEVFLOW_X`` for a
field ``x``), so existing deployments need no change.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec


class IngestConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Each field ``x`` is read from ``DEVFLOW_X``."""

    ENV_PREFIX: ClassVar[str] = "DEVFLOW_"

    # Days events are kept; 0 keeps them forever.
    events_retention_days: int = 0
    # Daily partitions created ahead (partitioned mode).
    partitions_ahead_days: int = 7
    # Messages the writer fetches and stores per transaction.
    writer_fetch_batch: int = 64
    # Record the client's address as $ip on events that carry none.
    capture_ip: bool = True

    def __post_init__(self) -> None:
        if self.events_retention_days < 0:
            raise ValueError(
                "DEVFLOW_EVENTS_RETENTION_DAYS: events_retention_days must be >= 0 "
                "(0 keeps events forever)"
            )
        if not 0 <= self.partitions_ahead_days <= 365:
            raise ValueError(
                "DEVFLOW_PARTITIONS_AHEAD_DAYS: partitions_ahead_days must be between 0 and 365"
            )
        if not 1 <= self.writer_fetch_batch <= 10_000:
            raise ValueError("DEVFLOW_WRITER_FETCH_BATCH: writer_fetch_batch must be 1 to 10000")
