"""The replay service's settings: ``DEVFLOW_REPLAY_*``, read once at start-up by the kernel's
reader (services.core.settings.read) and reached through ``ctx.settings_of(ReplayConfig)``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import msgspec

PREFIX = "DEVFLOW_REPLAY_"
ROOT = Path(__file__).resolve().parents[2]


class ReplayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Each field ``x`` is read from ``DEVFLOW_REPLAY_X``."""

    ENV_PREFIX: ClassVar[str] = PREFIX

    # Days a project's recordings are kept when it has not set its own.
    retention_days: int = 30
    # How often the retention job runs.
    retention_interval_s: float = 3600.0
    # A session's small chunks are merged once no chunk has arrived for this long.
    compact_after_s: float = 60.0
    # How often the compaction job looks for such sessions.
    compact_interval_s: float = 30.0
    # zstd level of stored chunks (1 fast … 19 small).
    zstd_level: int = 7
    # The browser SDK bundle served at /static/devflow.js (relative to the repository root).
    sdk_js: str = "sdk/js/dist/devflow.js"
    # The npm project holding rrweb-player for the player page (relative to the repository root).
    web_dir: str = "services/replay/web"
    # $snapshot events fetched per consumer batch.
    fetch_batch: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.retention_days <= 3650:
            raise ValueError(f"{PREFIX}RETENTION_DAYS: must be 1 to 3650")
        if not self.retention_interval_s > 0:
            raise ValueError(f"{PREFIX}RETENTION_INTERVAL_S: must be > 0")
        if not self.compact_after_s >= 0:
            raise ValueError(f"{PREFIX}COMPACT_AFTER_S: must be >= 0")
        if not self.compact_interval_s > 0:
            raise ValueError(f"{PREFIX}COMPACT_INTERVAL_S: must be > 0")
        if not 1 <= self.zstd_level <= 19:
            raise ValueError(f"{PREFIX}ZSTD_LEVEL: must be 1 to 19")
        if not 1 <= self.fetch_batch <= 1000:
            raise ValueError(f"{PREFIX}FETCH_BATCH: must be 1 to 1000")

    def path(self, value: str) -> Path:
        """A configured path; a relative one is taken from the repository root."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else ROOT / path
