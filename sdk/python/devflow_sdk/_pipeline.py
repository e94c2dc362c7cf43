"""The capture pipeline shared by ``Client`` and ``AsyncClient``: queue, backlog, sender thread.

It also owns the process lifecycle:

- **exit**: one ``atexit`` hook shuts down every live client, sending what is queued within
  each client's ``shutdown_timeout`` (the sender is a daemon thread, so it is still running when
  ``atexit`` hooks run). A client garbage-collected without ``shutdown()`` (a local variable of
  a ``main()`` that returned) stops accepting events and its pipeline is kept until its sender
  is done; the exit hook waits for those too. ``multiprocessing`` children leave through
  ``os._exit``, which skips ``atexit``; for them the same shutdown is registered as a
  ``multiprocessing.util.Finalize``.
- **fork**: the child of a ``fork()`` (gunicorn ``--preload``, ``multiprocessing``) has no sender
  thread and may hold copies of locks taken by the parent's threads. An ``os.register_at_fork``
  hook gives each client in the child a fresh queue, fresh counters and a sender that starts on
  the child's first event; events the parent had queued stay the parent's to send. With a
  spool, the child writes an area of its own (see ``_spool``) and never the parent's files.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Protocol

from devflow_sdk._backlog import MemoryBacklog, SpoolBacklog
from devflow_sdk._log import RateLimitedWarning, logger
from devflow_sdk._queue import CaptureQueue, Marker
from devflow_sdk._sender import Sender, SenderOptions
from devflow_sdk._spool import Spool
from devflow_sdk._stats import Counters, Stats

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from devflow_sdk._http import Transport

__all__ = ["Pipeline", "abandon", "register_lifecycle", "unregister_lifecycle"]

_NEW, _RUNNING, _CLOSED = "new", "running", "closed"


class Pipeline:
    """Queue → (spool) → sender for one client."""

    def __init__(
        self,
        *,
        token: str,
        transport: Transport,
        options: SenderOptions,
        max_queue_size: int,
        spool_dir: str | os.PathLike[str] | None,
        spool_max_bytes: int,
        spool_fsync: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self._token = token
        self._transport = transport
        self._options = options
        self._max_queue_size = max_queue_size
        self._clock = clock
        self._lock = threading.RLock()  # a GC finalizer may stop() mid-put()
        self.counters = Counters()
        self.spool = (
            Spool(spool_dir, max_bytes=spool_max_bytes, fsync=spool_fsync, counters=self.counters)
            if spool_dir is not None
            else None
        )
        self._build()
        self._start()

    def _build(self) -> None:
        # Everything with a lock is built here, so a forked child never inherits a held one.
        self._full = RateLimitedWarning(
            "the capture queue is full (max_queue_size=%d); dropping new events"
        )
        self._closed_warning = RateLimitedWarning("capture after shutdown; event dropped (%s)")
        self.queue = CaptureQueue(self._max_queue_size, self._options.flush_at)
        backlog: MemoryBacklog | SpoolBacklog = (
            SpoolBacklog(self.queue, self.spool)
            if self.spool is not None
            else MemoryBacklog(self.queue)
        )
        self.sender = Sender(
            backlog=backlog,
            transport=self._transport,
            token=self._token,
            options=self._options,
            counters=self.counters,
            clock=self._clock,
        )
        self._state = _NEW

    def _start(self) -> None:
        with self._lock:
            if self._state is _NEW:
                self.sender.start()
                self._state = _RUNNING

    # -- the callers' side ------------------------------------------------------------------------

    def put(self, record: bytes, uid: str) -> str | None:
        """Queue an encoded event; its uuid, or ``None`` when it was dropped (and counted)."""
        if self._state is not _RUNNING:
            if self._state is _CLOSED:
                self.counters.add("dropped_shutdown")
                self._closed_warning(uid)
                return None
            self._start()
        if self.queue.put(record):
            return uid
        self.counters.add("dropped_queue_full")
        self._full(self.queue.maxsize)
        return None

    def invalid(self, what: str, exc: BaseException) -> None:
        self.counters.add("dropped_invalid")
        logger.warning("%s: event dropped: %s", what, exc)

    def flush(self, timeout: float | None) -> bool:
        """Wait until everything queued so far is sent; ``False`` on timeout."""
        if self._state is not _RUNNING:
            return self.sender.backlog.pending == 0
        marker = Marker()
        self.queue.put_marker(marker)
        return marker.wait(timeout)

    def flush_marker(self) -> Marker:
        """A flush request whose completion the caller awaits in its own way (asyncio)."""
        marker = Marker()
        if self._state is not _RUNNING:
            marker.done(self.sender.backlog.pending == 0)
        else:
            self.queue.put_marker(marker)
        return marker

    def stop(self, timeout: float) -> None:
        """Refuse new events; let the sender send what it can within ``timeout``."""
        with self._lock:
            if self._state is _CLOSED:
                return
            was_running = self._state is _RUNNING
            self._state = _CLOSED
        if was_running:
            self.sender.stop(time.monotonic() + timeout)

    def join(self, timeout: float) -> bool:
        return self.sender.join(timeout)

    @property
    def done(self) -> bool:
        return self.sender.join(0)

    def stats(self) -> Stats:
        backlog = self.sender.backlog
        return self.counters.snapshot(queued=backlog.queued, spooled=backlog.spooled)

    def after_fork_in_child(self) -> None:
        if self._state is _CLOSED:
            return
        self._lock = threading.RLock()  # a GC finalizer may stop() mid-put()
        self.counters = Counters()
        if self.spool is not None:
            self.spool.after_fork_in_child()
            self.spool.counters = self.counters
        self._build()  # the child starts its sender with its first event


class _Owner(Protocol):
    def _shutdown_at_exit(self) -> None: ...
    def _after_fork_in_child(self) -> None: ...


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
# Pipelines of clients collected without shutdown(), with the deadline of their final send.
_ABANDONED: dict[Pipeline, float] = {}


def register_lifecycle(owner: _Owner) -> None:
    """Shut ``owner`` down at exit, and fix it up in forked children."""
    _LIVE.add(owner)
    multiprocessing.util.register_after_fork(owner, _in_multiprocessing_child)


def unregister_lifecycle(owner: _Owner) -> None:
    _LIVE.discard(owner)


def abandon(pipeline: Pipeline, timeout: float) -> None:
    """The client was collected without shutdown(): send what it queued, then let it go."""
    for done in [p for p in _ABANDONED if p.done]:
        del _ABANDONED[done]
    pipeline.stop(timeout)
    _ABANDONED[pipeline] = time.monotonic() + timeout


def _shutdown_all() -> None:
    for owner in list(_LIVE):
        try:
            owner._shutdown_at_exit()
        except Exception:
            logger.exception("devflow_sdk: error while shutting down at exit")
    for pipeline, deadline in list(_ABANDONED.items()):
        pipeline.join(max(0.0, deadline - time.monotonic()))
    _ABANDONED.clear()


def _after_fork_in_child() -> None:
    _ABANDONED.clear()  # the parent's to finish
    for owner in list(_LIVE):
        owner._after_fork_in_child()


def _in_multiprocessing_child(owner: _Owner) -> None:
    # A multiprocessing child ends with os._exit(): atexit hooks do not run, its finalizers do.
    ref = weakref.ref(owner)

    def shutdown() -> None:
        target = ref()
        if target is not None:
            target._shutdown_at_exit()

    multiprocessing.util.Finalize(None, shutdown, exitpriority=100)


atexit.register(_shutdown_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
