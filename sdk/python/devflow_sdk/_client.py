"""``Client``: capture events and evaluate feature flags from a Python process.

The event methods (``capture``, ``identify``, ``alias``, ``set``, ``set_once``,
``group_identify``) are shared with ``AsyncClient`` through ``BaseClient``. They never block on
the network and never raise: an event is validated and encoded on the caller's thread, queued,
and sent by a background thread (see ``_pipeline``). Arguments that make no event (an empty
event name, a ``distinct_id`` of ``None``, properties that are not a dict or cannot be encoded)
are logged as a warning and counted in ``stats.dropped_invalid``; the method returns ``None``
instead of the event's uuid.
"""

from __future__ import annotations

import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devflow_sdk._events import EventFactory, utc_now
from devflow_sdk._flag_reads import FlagReads
from devflow_sdk._flags_manager import FlagsManager
from devflow_sdk._http import DEFAULT_HOST, Transport
from devflow_sdk._log import enable_debug
from devflow_sdk._pipeline import Pipeline, abandon, register_lifecycle, unregister_lifecycle
from devflow_sdk._sender import SenderOptions
from devflow_sdk.errors import ConfigError

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping
    from datetime import datetime
    from uuid import UUID

    from devflow_sdk._flag_options import FlagOptions
    from devflow_sdk._flagsync.store import FlagsChange
    from devflow_sdk._stats import Stats

__all__ = ["DEFAULT_HOST", "BaseClient", "Client"]

_MIB = 1_048_576


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


class BaseClient:
    """Options, the capture pipeline and the event methods common to both clients."""

    def __init__(
        self,
        token: str,
        host: str = DEFAULT_HOST,
        secret_key: str | None = None,
        *,
        flush_at: int = 100,
        flush_interval: float = 0.5,
        max_queue_size: int = 10_000,
        max_batch_size: int = 1_000,
        max_batch_bytes: int = 5 * _MIB,
        gzip: bool = True,
        timeout: float = 10.0,
        max_backoff: float = 30.0,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = 128 * _MIB,
        spool_fsync: bool = True,
        shutdown_timeout: float = 10.0,
        super_properties: Mapping[str, Any] | None = None,
        flag_options: FlagOptions | None = None,
        disabled: bool = False,
        debug: bool = False,
        clock: Callable[[], datetime] | None = None,
        uuid_factory: Callable[[], str] | None = None,
    ) -> None:
        _check(isinstance(token, str) and bool(token), "token must be a non-empty string")
        _check(isinstance(host, str) and bool(host), "host must be a URL")
        _check(flush_at >= 1, "flush_at must be >= 1")
        _check(flush_interval > 0, "flush_interval must be > 0")
        _check(max_queue_size >= 1, "max_queue_size must be >= 1")
        _check(max_batch_size >= 1, "max_batch_size must be >= 1")
        _check(max_batch_bytes >= _MIB, "max_batch_bytes must be >= 1 MiB (one event's limit)")
        _check(timeout > 0 and max_backoff > 0, "timeout and max_backoff must be > 0")
        # Two events' limit, so that any one event fits in an empty spool.
        _check(spool_max_bytes >= 2 * _MIB, "spool_max_bytes must be >= 2 MiB")
        _check(shutdown_timeout >= 0, "shutdown_timeout must be >= 0")
        if spool_dir is not None:
            try:
                Path(spool_dir).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"spool_dir {spool_dir!r} cannot be created: {exc}") from exc
        if debug:
            enable_debug()
        self.token = token
        self.host = host
        self._disabled = disabled
        self._shutdown_timeout = shutdown_timeout
        clock = clock or utc_now
        self._events = EventFactory(
            super_properties=super_properties, clock=clock, uuid_factory=uuid_factory
        )
        self._transport = Transport(host, timeout=timeout)
        self._pipeline = Pipeline(
            token=token,
            transport=self._transport,
            options=SenderOptions(
                flush_at=flush_at,
                flush_interval=flush_interval,
                max_batch_size=max_batch_size,
                max_batch_bytes=max_batch_bytes,
                max_backoff=max_backoff,
                gzip=gzip,
            ),
            max_queue_size=max_queue_size,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            spool_fsync=spool_fsync,
            clock=clock,
        )
        self._flags = FlagsManager(
            token,
            host,
            secret_key,
            options=flag_options,
            capture=_weak_capture(self),
            timeout=timeout,
        )
        # Dropped without shutdown(): the sender still sends what is queued, then exits.
        self._finalizer = weakref.finalize(
            self, _abandon, self._pipeline, self._flags, shutdown_timeout
        )
        self._finalizer.atexit = False  # the atexit hook below does a proper shutdown
        register_lifecycle(self)

    # -- events -------------------------------------------------------------------------------

    def capture(
        self,
        event: str,
        distinct_id: str,
        properties: Mapping[str, Any] | None = None,
        *,
        groups: Mapping[str, Any] | None = None,
        timestamp: datetime | str | None = None,
        uuid: str | UUID | None = None,
    ) -> str | None:
        """Queue an event; returns its uuid, or ``None`` when it was dropped (see ``stats``).

        ``groups`` maps group types to keys (``{"company": "acme"}``). ``timestamp`` defaults
        to now; ``uuid`` to a fresh UUIDv7 (pass your own to make retries of your own
        idempotent).
        """
        if self._disabled:
            return None
        try:
            record, uid = self._events.capture(
                event, distinct_id, properties, groups, timestamp, uuid
            )
        except Exception as exc:
            self._pipeline.invalid("capture", exc)
            return None
        return self._pipeline.put(record, uid)

    def identify(
        self,
        distinct_id: str,
        properties: Mapping[str, Any] | None = None,
        *,
        set_once: Mapping[str, Any] | None = None,
        timestamp: datetime | str | None = None,
        uuid: str | UUID | None = None,
    ) -> str | None:
        """Send ``$identify``: ``properties`` are ``$set`` on the person, ``set_once`` are
        ``$set_once``."""
        if self._disabled:
            return None
        try:
            record, uid = self._events.identify(distinct_id, properties, set_once, timestamp, uuid)
        except Exception as exc:
            self._pipeline.invalid("identify", exc)
            return None
        return self._pipeline.put(record, uid)

    def alias(
        self,
        previous_id: str,
        distinct_id: str,
        *,
        timestamp: datetime | str | None = None,
        uuid: str | UUID | None = None,
    ) -> str | None:
        """Send ``$create_alias``: ``previous_id`` and ``distinct_id`` become one person."""
        if self._disabled:
            return None
        try:
            record, uid = self._events.alias(previous_id, distinct_id, timestamp, uuid)
        except Exception as exc:
            self._pipeline.invalid("alias", exc)
            return None
        return self._pipeline.put(record, uid)

    def set(
        self,
        distinct_id: str,
        properties: Mapping[str, Any],
        *,
        timestamp: datetime | str | None = None,
        uuid: str | UUID | None = None,
    ) -> str | None:
        """Send ``$set``: set person properties (nothing is sent for empty ``properties``)."""
        return self._set("$set", distinct_id, properties, timestamp, uuid)

    def set_once(
        self,
        distinct_id: str,
        properties: Mapping[str, Any],
        *,
        timestamp: datetime | str | None = None,
        uuid: str | UUID | None = None,
    ) -> str | None:
        """Send ``$set_once``: set person properties that are not set yet."""
        return self._set("$set_once", distinct_id, properties, timestamp, uuid)

    def _set(
        self,
        kind: str,
        distinct_id: str,
        properties: Mapping[str, Any],
        timestamp: datetime | str | None,
        uuid: str | UUID | None,
    ) -> str | None:
        if self._disabled:
            return None
        try:
            built = self._events.set(kind, distinct_id, properties, timestamp, uuid)
        except Exception as exc:
            self._pipeline.invalid(kind, exc)
            return None
        return None if built is None else self._pipeline.put(*built)

    def group_identify(
        self,
        group_type: str,
        group_key: str,
        properties: Mapping[str, Any] | None = None,
        *,
        distinct_id: str | None = None,
        timestamp: datetime | str | None = None,
        uuid: str | UUID | None = None,
    ) -> str | None:
        """Send ``$groupidentify``: set the properties of a group (``distinct_id`` defaults
        to ``"$<group_type>_<group_key>"``, as in posthog-python)."""
        if self._disabled:
            return None
        try:
            record, uid = self._events.group_identify(
                group_type, group_key, properties, distinct_id, timestamp, uuid
            )
        except Exception as exc:
            self._pipeline.invalid("group_identify", exc)
            return None
        return self._pipeline.put(record, uid)

    @property
    def stats(self) -> Stats:
        """Delivery counters: queued, spooled, sent, rejected, dropped (by reason), retries."""
        return self._pipeline.stats()

    # -- feature flags: the reads are Client's (FlagReads) and AsyncClient's own ----------------

    @property
    def flags(self) -> FlagsManager:
        """The client's ``FlagsManager``: ``ready``, ``wait_ready``, ``definitions_etag``,
        ``streaming``, ``on_change``, ``get_flag_details`` (also for the OpenFeature provider)."""
        return self._flags

    def on_change(self, callback: Callable[[FlagsChange], None]) -> Callable[[], None]:
        """Call ``callback(change)`` (on the sync thread) whenever new flag definitions take
        effect, the first load included; returns a function that unregisters it."""
        return self._flags.on_change(callback)

    # -- lifecycle ----------------------------------------------------------------------------

    def _close(self, timeout: float | None) -> float:
        """Stop accepting events and start the final send; the monotonic deadline."""
        timeout = self._shutdown_timeout if timeout is None else max(0.0, timeout)
        deadline = time.monotonic() + timeout
        self._finalizer.detach()
        unregister_lifecycle(self)
        self._pipeline.stop(timeout)
        self._flags.shutdown(min(timeout, 2.0))
        return deadline

    def _closed(self) -> None:
        if self._pipeline.join(0):
            self._transport.close()

    def _shutdown_at_exit(self) -> None:
        deadline = self._close(None)
        self._pipeline.join(max(0.0, deadline - time.monotonic()))
        self._closed()

    def _after_fork_in_child(self) -> None:
        self._pipeline.after_fork_in_child()
        self._flags.after_fork()


class Client(FlagReads, BaseClient):
    """The synchronous client. ``Client(token, host=..., secret_key=None, **options)``.

    Use one per process (a forked child gets its own state automatically) and call
    ``shutdown()`` when done, or use it as a context manager; at interpreter exit it is shut
    down anyway. See the README for every option.
    """

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every event queued before this call is sent (or refused by the server).

        Returns ``False`` if ``timeout`` seconds passed first (the events stay queued).
        ``None`` waits as long as it takes, which is forever while the server is unreachable.
        """
        return self._pipeline.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Send what is queued (for up to ``timeout`` seconds, default ``shutdown_timeout``),
        stop the background threads and close connections. Later events are dropped and
        counted. Without a spool, what could not be sent is lost and counted in
        ``stats.dropped_shutdown``; with one it stays on disk for the next start."""
        deadline = self._close(timeout)
        self._pipeline.join(max(0.0, deadline - time.monotonic()) + 0.5)
        self._closed()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def _weak_capture(client: BaseClient) -> Callable[[str, str, dict[str, Any]], None]:
    # The flags manager's threads must not keep the client alive.
    ref = weakref.ref(client)

    def capture(event: str, distinct_id: str, properties: dict[str, Any]) -> None:
        target = ref()
        if target is not None:
            target.capture(event, distinct_id, properties)

    return capture


def _abandon(pipeline: Pipeline, flags: FlagsManager, timeout: float) -> None:
    abandon(pipeline, timeout)
    flags.shutdown(0.0)
