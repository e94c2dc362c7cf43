"""Process settings: one frozen Struct read from the environment once, at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from services.core.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

PREFIX = "DEVFLOW_"


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every knob of a DevFlow process. Each field ``x`` is read from ``DEVFLOW_X``."""

    database_url: str | None = None
    nats_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = ".devflow"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    db_pool_min: int = 1
    db_pool_max: int = 8
    events_retention_days: int = 0
    partitions_ahead_days: int = 7
    writer_fetch_batch: int = 64
    writer_max_deliver: int = 5
    writer_ack_wait_s: float = 30.0
    publish_timeout_s: float = 5.0
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None
    service_name: str = "devflow"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be between 1 and 65535")
        if self.db_pool_min < 1 or self.db_pool_max < self.db_pool_min:
            raise ValueError("db_pool_max must be >= db_pool_min >= 1")
        if self.events_retention_days < 0:
            raise ValueError("events_retention_days must be >= 0 (0 keeps events forever)")
        if not 0 <= self.partitions_ahead_days <= 365:
            raise ValueError("partitions_ahead_days must be between 0 and 365")
        if not 1 <= self.writer_fetch_batch <= 10_000:
            raise ValueError("writer_fetch_batch must be between 1 and 10000")
        if self.writer_ack_wait_s < 1:
            raise ValueError("writer_ack_wait_s must be >= 1")
        if self.writer_max_deliver < 2:
            raise ValueError("writer_max_deliver must be >= 2")
        if self.publish_timeout_s <= 0:
            raise ValueError("publish_timeout_s must be > 0")
        if self.otel_exporter == "otlp" and not self.otel_endpoint:
            raise ValueError("otel_endpoint is required when otel_exporter is 'otlp'")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``DEVFLOW_*``; raise :class:`ConfigError` naming the bad one."""
        env = os.environ if env is None else env
        known = set(cls.__struct_fields__)
        raw: dict[str, object] = {}
        for key, value in env.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX) :].lower()
            if name in known and value != "":
                raw[name] = value
        raw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(_explain(str(exc))) from None
        except ValueError as exc:
            raise ConfigError(f"invalid setting: {exc}") from None


def _explain(message: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.port`"; name the variable the user sets.
    if " - at `$." in message:
        reason, _, path = message.partition(" - at `$.")
        field = path.rstrip("`").split(".")[0].split("[")[0]
        return f"invalid setting {PREFIX}{field.upper()}: {reason}"
    return f"invalid setting: {message}"
