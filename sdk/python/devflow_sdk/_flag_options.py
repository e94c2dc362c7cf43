"""``FlagOptions``: how a client gets and evaluates feature flags (``flag_options=``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from devflow_sdk.errors import ConfigError

if TYPE_CHECKING:
    import os

__all__ = ["FlagOptions"]


class FlagOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How the SDK gets and evaluates feature flags.

    - ``flags_ready_timeout``: block the constructor until definitions are there (or this many
      seconds passed); ``None`` returns at once and evaluations until then go to the server.
    - ``cache_dir``: keep the last definitions received on disk and start from them, so a
      restart during an outage still evaluates flags (with a secret key, or offline).
    - ``bootstrap``: a definitions file (what ``GET /flags/definitions`` returns) to start
      from; with ``offline`` the only source.
    - ``offline``: never contact the server for flags.
    - ``remote_fallback``: ask ``/flags`` for flags local evaluation cannot decide.
    - ``stream``: follow changes over server-sent events (else only poll).
    - ``poll_interval``: seconds between ``If-None-Match`` polls while not streaming.
    - ``send_exposures``: send ``$feature_flag_called`` (once per user, flag and value).
    """

    flags_ready_timeout: float | None = None
    cache_dir: str | os.PathLike[str] | None = None
    bootstrap: str | os.PathLike[str] | None = None
    offline: bool = False
    remote_fallback: bool = True
    stream: bool = True
    poll_interval: float = 30.0
    send_exposures: bool = True

    def __post_init__(self) -> None:
        if not self.poll_interval > 0:
            raise ConfigError(f"poll_interval must be positive, not {self.poll_interval!r}")
        if self.flags_ready_timeout is not None and not self.flags_ready_timeout >= 0:
            raise ConfigError(
                f"flags_ready_timeout must be >= 0 or None, not {self.flags_ready_timeout!r}"
            )
