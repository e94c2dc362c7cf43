"""Delivery counters: what the client sent, what the server refused, what was dropped and why.

Counters are written by the sender thread, except the drop counters that ``capture()`` bumps on
its slow path; both take a lock, and the capture fast path touches none of them.
"""

from __future__ import annotations

import threading

import msgspec

__all__ = ["Counters", "Stats"]


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of a client's delivery counters (``client.stats``).

    Every event passed to ``capture()`` (or identify, alias, ...) ends up in exactly one of:
    still ``queued`` in memory, ``spooled`` on disk, ``sent``, ``rejected`` by the server, or
    one of the ``dropped_*`` counters.
    """

    queued: int = 0
    """Events in memory, not yet sent (or, with a spool, not yet written to it)."""
    spooled: int = 0
    """Events on disk waiting to be sent (0 without ``spool_dir``)."""
    sent: int = 0
    """Events the server acknowledged."""
    rejected: int = 0
    """Events the server refused (a 400 naming them, or a 401/403 for the whole batch)."""
    dropped_queue_full: int = 0
    """Events refused by ``capture()`` because memory (and the spool, if any) was full."""
    dropped_invalid: int = 0
    """Events refused by ``capture()``: bad arguments, unencodable or too large properties."""
    dropped_shutdown: int = 0
    """Events that could not be sent before shutdown without a spool, or captured after it."""
    retries: int = 0
    """Requests that failed and were (or will be) retried."""
    requests: int = 0
    """HTTP requests made to the capture endpoint."""
    spool_corrupt: int = 0
    """Corrupt spool records skipped on read (a torn or damaged segment)."""
    last_error: str | None = None
    """The last delivery error, for diagnostics."""

    @property
    def dropped(self) -> int:
        """All events dropped on this side, whatever the reason."""
        return self.dropped_queue_full + self.dropped_invalid + self.dropped_shutdown


class Counters:
    """The mutable counters behind ``Stats``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = 0
        self.rejected = 0
        self.dropped_queue_full = 0
        self.dropped_invalid = 0
        self.dropped_shutdown = 0
        self.retries = 0
        self.requests = 0
        self.spool_corrupt = 0
        self.last_error: str | None = None

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def error(self, message: str) -> None:
        with self.lock:
            self.last_error = message

    def snapshot(self, *, queued: int, spooled: int) -> Stats:
        with self.lock:
            return Stats(
                queued=queued,
                spooled=spooled,
                sent=self.sent,
                rejected=self.rejected,
                dropped_queue_full=self.dropped_queue_full,
                dropped_invalid=self.dropped_invalid,
                dropped_shutdown=self.dropped_shutdown,
                retries=self.retries,
                requests=self.requests,
                spool_corrupt=self.spool_corrupt,
                last_error=self.last_error,
            )
