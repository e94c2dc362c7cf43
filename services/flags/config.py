"""The flags service's settings: ``DEVFLOW_FLAGS_*``, read once at start-up."""

from __future__ import annotations

from typing import ClassVar

import msgspec

PREFIX = "DEVFLOW_FLAGS_"


class FlagsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Each field ``x`` is read from ``DEVFLOW_FLAGS_X``."""

    ENV_PREFIX: ClassVar[str] = PREFIX

    # Connections of the evaluation read pool (autocommit); 0 uses DEVFLOW_DB_POOL_MAX.
    read_pool_max: int = 0
    # Seconds between keep-alive comments on the definitions stream (proxies close idle ones).
    stream_keepalive_s: float = 15.0

    def __post_init__(self) -> None:
        if not 0 <= self.read_pool_max <= 1000:
            raise ValueError(f"{PREFIX}READ_POOL_MAX: must be 0 to 1000")
        if not 1 <= self.stream_keepalive_s <= 3600:
            raise ValueError(f"{PREFIX}STREAM_KEEPALIVE_S: must be 1 to 3600")
