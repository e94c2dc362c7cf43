"""Process settings: one frozen Struct read from the environment once, at start-up."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from services.core.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

PREFIX = "DEVFLOW_"
# Variables a service reads into settings of its own, which checks them itself
# (``DEVFLOW_REPLAY_*``: services/replay's ReplayConfig; ``DEVFLOW_BILLING_*`` and
# ``DEVFLOW_STRIPE_*``: services/billing's BillingConfig).
SERVICE_PREFIXES = ("REPLAY_", "BILLING_", "STRIPE_")


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
    capture_ip: bool = True
    jobs_threads: int = 2
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None
    service_name: str = "devflow"

    def __post_init__(self) -> None:
        _require(0 < self.port < 65536, "port", "must be between 1 and 65535")
        _require(self.db_pool_min >= 1, "db_pool_min", "must be >= 1")
        _require(self.db_pool_max >= self.db_pool_min, "db_pool_max", "must be >= db_pool_min")
        _require(
            self.events_retention_days >= 0,
            "events_retention_days",
            "must be >= 0 (0 keeps events forever)",
        )
        _require(
            0 <= self.partitions_ahead_days <= 365,
            "partitions_ahead_days",
            "must be between 0 and 365",
        )
        _require(1 <= self.writer_fetch_batch <= 10_000, "writer_fetch_batch", "must be 1 to 10000")
        _require(self.writer_max_deliver >= 2, "writer_max_deliver", "must be >= 2")
        _require(1 <= self.jobs_threads <= 64, "jobs_threads", "must be 1 to 64")
        for name in ("writer_ack_wait_s", "publish_timeout_s"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value > 0, name, "must be a positive number")
        _require(self.writer_ack_wait_s >= 1, "writer_ack_wait_s", "must be >= 1")
        _require(
            self.otel_exporter != "otlp" or bool(self.otel_endpoint),
            "otel_endpoint",
            "is required when otel_exporter is 'otlp'",
        )

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``DEVFLOW_*``; raise :class:`ConfigError` naming the bad one."""
        env = os.environ if env is None else env
        known = set(cls.__struct_fields__)
        raw: dict[str, object] = {}
        unknown: list[str] = []
        for key, value in env.items():
            if not key.startswith(PREFIX):
                continue
            if key[len(PREFIX) :].startswith(SERVICE_PREFIXES):
                continue
            name = key[len(PREFIX) :].lower()
            if name and name not in known:
                unknown.append(key)
            elif name and value != "":
                raw[name] = value
        if unknown:
            # A misspelt variable would be a setting that silently never took effect. It is not
            # fatal: shells and .env files also hold DEVFLOW_ variables meant for other tools.
            print(
                f"devflow: warning: ignoring unknown setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(PREFIX + f.upper() for f in cls.__struct_fields__)}",
                file=sys.stderr,
            )
        raw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(_explain(str(exc))) from None
        except ValueError as exc:
            raise ConfigError(f"invalid setting {exc}") from None


def _require(ok: bool, field: str, reason: str) -> None:
    if not ok:
        raise ValueError(f"{PREFIX}{field.upper()}: {field} {reason}")


def _explain(message: str) -> str:
    if message.startswith(PREFIX):  # from _require: already names the variable
        return f"invalid setting {message}"
    # msgspec says "Expected `int`, got `str` - at `$.port`"; name the variable the user sets.
    if " - at `$." in message:
        reason, _, path = message.partition(" - at `$.")
        field = path.rstrip("`").split(".")[0].split("[")[0]
        return f"invalid setting {PREFIX}{field.upper()}: {reason}"
    return f"invalid setting: {message}"
