"""Settings: frozen Structs read from the environment once, at start-up, by :func:`read` — the
kernel's :class:`Settings` and each service's own (declared as ``Service.settings``)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import msgspec

from services.core.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

PREFIX = "DEVFLOW_"
SettingsT = TypeVar("SettingsT", bound=msgspec.Struct)


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The kernel's knobs (servers, pools, logging, telemetry, jobs). Each field ``x`` is read
    from ``DEVFLOW_X``. A service's own knobs are in its settings Struct (:class:`Service`'s
    ``settings``), read by the same :func:`read`."""

    database_url: str | None = None
    nats_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = ".devflow"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    db_pool_min: int = 1
    db_pool_max: int = 8
    # Redelivery of every durable consumer (ingest's writer, replay's): the names are the
    # writer's, from before other services had consumers.
    writer_max_deliver: int = 5
    writer_ack_wait_s: float = 30.0
    publish_timeout_s: float = 5.0
    jobs_threads: int = 2
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None
    service_name: str = "devflow"

    def __post_init__(self) -> None:
        _require(0 < self.port < 65536, "port", "must be between 1 and 65535")
        _require(self.db_pool_min >= 1, "db_pool_min", "must be >= 1")
        _require(self.db_pool_max >= self.db_pool_min, "db_pool_max", "must be >= db_pool_min")
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
        """``data_dir`` as an absolute path, ``~`` expanded."""
        return Path(self.data_dir).expanduser().resolve()

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        declared: Iterable[type[msgspec.Struct]] = (),
        **overrides: object,
    ) -> Settings:
        """Build settings from ``DEVFLOW_*``; raise :class:`ConfigError` naming the bad one.
        Warns about ``DEVFLOW_*`` variables neither these nor the ``declared`` service settings
        read."""
        env = os.environ if env is None else env
        known = env_names(cls) | {n for c in declared for n in env_names(c)}
        unknown = sorted(k for k in env if k.startswith(PREFIX) and len(k) > len(PREFIX))
        unknown = [k for k in unknown if k not in known]
        if unknown:
            # A misspelt variable would be a setting that silently never took effect. It is not
            # fatal: shells and .env files also hold DEVFLOW_ variables meant for other tools.
            print(
                f"devflow: warning: ignoring unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}",
                file=sys.stderr,
            )
        return read(cls, env, **overrides)


def env_prefix(cls: type[msgspec.Struct]) -> str:
    """The prefix of a settings Struct's variables: its ``ENV_PREFIX`` class variable, or
    ``DEVFLOW_``."""
    return str(getattr(cls, "ENV_PREFIX", PREFIX))


def env_names(cls: type[msgspec.Struct]) -> set[str]:
    """The variables a settings Struct reads: ``<prefix><FIELD>`` for each field."""
    prefix = env_prefix(cls)
    return {prefix + name.upper() for name in cls.__struct_fields__}


def read(
    cls: type[SettingsT], env: Mapping[str, str] | None = None, **overrides: object
) -> SettingsT:
    """The one reader of settings: each field ``x`` of ``cls`` from ``<prefix>X`` (empty means
    unset), ``overrides`` (None means not given) on top. Raises :class:`ConfigError` with one
    line naming the variable at fault."""
    env = os.environ if env is None else env
    prefix = env_prefix(cls)
    raw: dict[str, object] = {}
    for name in cls.__struct_fields__:
        value = env.get(prefix + name.upper(), "")
        if value != "":
            raw[name] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc), prefix)) from None


def _require(ok: bool, field: str, reason: str) -> None:
    if not ok:
        raise ValueError(f"{PREFIX}{field.upper()}: {field} {reason}")


def _explain(message: str, prefix: str) -> str:
    if message.startswith(PREFIX):  # from __post_init__: already names the variable
        return f"invalid setting {message}"
    # msgspec says "Expected `int`, got `str` - at `$.port`"; name the variable the user sets.
    if " - at `$." in message:
        reason, _, path = message.partition(" - at `$.")
        field = path.rstrip("`").split(".")[0].split("[")[0]
        return f"invalid setting {prefix}{field.upper()}: {reason}"
    return f"invalid setting: {message}"


def read_all(
    classes: Iterable[type[msgspec.Struct]], env: Mapping[str, str] | None = None
) -> dict[type[msgspec.Struct], msgspec.Struct]:
    """Each settings Struct read by :func:`read`, by class (services' settings at start-up)."""
    return {cls: read(cls, env) for cls in dict.fromkeys(classes)}
