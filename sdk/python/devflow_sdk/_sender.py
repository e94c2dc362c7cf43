"""The background sender: batches, gzips and POSTs events to ``/batch/``, with retries.

One daemon thread per client. It wakes when a full batch (``flush_at``) is queued, when a flush
is requested, or every ``flush_interval``; it sends a batch when one is due, and otherwise sleeps.
What the server's answer means for a batch:

- 2xx: every event is stored.
- 400 naming events (``errors[].index`` / ``rejected``): the others *were* accepted. The batch is
  done; the refused events are logged and counted in ``Stats.rejected``, never resent.
- 400 or 413 about the request as a whole: the batch is split in halves and retried, down to
  one event, which is then refused (so one bad event never blocks the others).
- 408, 425, 429, 5xx, or no answer at all: the same batch (same uuids) is retried after the
  server's ``Retry-After`` when it sent one, else after an exponential backoff with jitter
  (0.5 s doubling up to ``max_backoff``). There is no retry limit: without a spool, new events
  wait in the bounded queue meanwhile (then are dropped and counted); with one, they go to disk.
- any other 4xx (401 bad token, 403, 404): the server will never take it; refused and counted.
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec

from devflow_sdk._log import logger
from devflow_sdk._queue import Marker
from devflow_sdk.errors import APIError, TransportError, parse_retry_after

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from devflow_sdk._backlog import MemoryBacklog, SpoolBacklog
    from devflow_sdk._http import Response, Transport
    from devflow_sdk._stats import Counters

__all__ = ["Sender", "SenderOptions"]

BATCH_PATH = "/batch/"
_BACKOFF_BASE_S = 0.5


class SenderOptions(msgspec.Struct, frozen=True, kw_only=True):
    flush_at: int
    flush_interval: float
    max_batch_size: int
    max_batch_bytes: int
    max_backoff: float
    gzip: bool


class _Rejection(msgspec.Struct):
    index: int | None = None
    field: str | None = None
    reason: str | None = None


class _Problem(msgspec.Struct):
    errors: list[_Rejection] = []
    rejected: list[int] | None = None


_decode_problem = msgspec.json.Decoder(_Problem).decode
_decode_event_head = msgspec.json.Decoder(dict[str, Any]).decode


def rejected_indexes(resp: Response, size: int) -> tuple[set[int], list[_Rejection]] | None:
    """The events a 400 names, or ``None`` when it is about the request as a whole."""
    try:
        problem = _decode_problem(resp.body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    named = [e for e in problem.errors if e.index is not None]
    indexes = set(problem.rejected or ()) | {e.index for e in named if e.index is not None}
    indexes = {i for i in indexes if 0 <= i < size}
    if not indexes:
        return None
    return indexes, named


class Sender:
    """Drives one backlog to the server from a daemon thread."""

    def __init__(
        self,
        *,
        backlog: MemoryBacklog | SpoolBacklog,
        transport: Transport,
        token: str,
        options: SenderOptions,
        counters: Counters,
        clock: Callable[[], datetime],
    ) -> None:
        self.backlog = backlog
        self.queue = backlog.queue
        self.transport = transport
        self.options = options
        self.counters = counters
        self.clock = clock
        self._token = msgspec.json.encode(token)
        self._encode = msgspec.json.encode
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._deadline = float("inf")
        self._retry_at = 0.0
        self._attempt = 0
        self._batch_limit = options.max_batch_size
        self._suspect = 0  # events at the head of the backlog inside a batch refused as a whole
        self._idle_since = time.monotonic()
        self._pending_since: float | None = None
        self.finished = Marker()  # done when the thread has exited

    @property
    def running(self) -> bool:
        return self._thread is not None and not self.finished.is_set

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="devflow-sdk-sender", daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        """Ask the thread to send what it can until ``deadline`` (monotonic), then exit."""
        self._deadline = min(self._deadline, deadline)
        self._stopping = True
        self.queue.wake.set()

    def join(self, timeout: float | None) -> bool:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return self.finished.is_set or self._thread is None

    # -- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            try:
                self.backlog.open()  # a spool left by a previous process is sent first
            except OSError as exc:
                logger.error("cannot open the spool: %r", exc)
                self.counters.error(repr(exc))
            while not self._step():
                pass
        finally:
            self._finish()

    def _step(self) -> bool:
        """One turn of the loop; ``True`` when the thread should exit."""
        wake = self.queue.wake
        wake.clear()
        try:
            return self._turn(wake)
        except Exception as exc:  # the sender must outlive any bug or disk error
            logger.exception("devflow_sdk sender error")
            self.counters.error(repr(exc))
            wake.wait(1.0)
            return self._stopping and time.monotonic() >= self._deadline

    def _turn(self, wake: threading.Event) -> bool:
        backlog, options = self.backlog, self.options
        backlog.absorb()
        backlog.fire_markers()
        now = time.monotonic()
        pending = backlog.pending
        if self._stopping and (pending == 0 or now >= self._deadline):
            return True
        if pending:
            if self._pending_since is None:
                self._pending_since = self._idle_since
            due = (
                pending >= options.flush_at
                or bool(backlog.markers)
                or self.queue.flushes > 0
                or self._stopping
                or now - self._pending_since >= options.flush_interval
            )
            if due and now >= self._retry_at:
                self._send_one()
                return False
            wait_until = self._retry_at if due else self._pending_since + options.flush_interval
            wait_until = max(wait_until, self._retry_at)
            if backlog.writes_to_disk:
                # Backing off: still move new events to disk every flush_interval.
                wait_until = min(wait_until, now + options.flush_interval)
        else:
            self._pending_since = None
            self._idle_since = now
            backlog.adopt_orphans()
            if backlog.pending:
                return False
            wait_until = now + options.flush_interval
        if self._stopping:
            wait_until = min(wait_until, self._deadline)
        wake.wait(max(0.0, wait_until - now))
        return False

    def _finish(self) -> None:
        try:
            lost = self.backlog.drop_all()
            if lost:
                self.counters.add("dropped_shutdown", lost)
                logger.warning(
                    "shutdown: %d event(s) could not be sent in time and are lost (%s)",
                    lost,
                    self.backlog.lost_hint,
                )
            self.backlog.close()
        except Exception:
            logger.exception("devflow_sdk sender: error while stopping")
        finally:
            self.finished.done(True)

    # -- one request -----------------------------------------------------------------------------

    def _body(self, batch: list[bytes]) -> bytes:
        return b'{"api_key":%b,"sent_at":%b,"batch":[%b]}' % (
            self._token,
            self._encode(self.clock()),
            b",".join(batch),
        )

    def _send_one(self) -> None:
        batch = self.backlog.peek(self._batch_limit, self.options.max_batch_bytes)
        if not batch:
            return
        self.counters.add("requests")
        try:
            resp = self.transport.post(BATCH_PATH, self._body(batch), gzip=self.options.gzip)
        except TransportError as exc:
            self._retry(str(exc), None)
            return
        status = resp.status
        if 200 <= status < 300:
            self._done(len(batch), sent=len(batch))
        elif status == 400 and (named := rejected_indexes(resp, len(batch))) is not None:
            indexes, errors = named
            _log_rejected(batch, indexes, errors)
            self._done(len(batch), sent=len(batch) - len(indexes), rejected=len(indexes))
        elif status in (400, 413):
            error = APIError.from_response(resp)
            if len(batch) > 1:
                self._batch_limit = max(1, len(batch) // 2)
                self._suspect = len(batch)
                logger.debug("%s for %d events; retrying in halves", error, len(batch))
            else:
                logger.warning("the server refused an event: %s (%s)", error, _describe(batch[0]))
                self.counters.error(str(error))
                self._done(1, rejected=1)
        elif status in (408, 425, 429) or status >= 500:
            self._retry(f"HTTP {status}", parse_retry_after(resp))
        else:
            error = APIError.from_response(resp)
            logger.error("the server refused %d event(s): %s", len(batch), error)
            self.counters.error(str(error))
            self._done(len(batch), rejected=len(batch))

    def _done(self, n: int, *, sent: int = 0, rejected: int = 0) -> None:
        self.backlog.commit(n)
        with self.counters.lock:
            self.counters.sent += sent
            self.counters.rejected += rejected
        if self._attempt:
            logger.info("delivery resumed after %d failed attempt(s)", self._attempt)
        self._attempt = 0
        self._retry_at = 0.0
        self._suspect -= n
        if self._suspect <= 0:
            self._suspect = 0
            self._batch_limit = self.options.max_batch_size
        now = time.monotonic()
        self._pending_since = now if self.backlog.pending else None
        self.backlog.fire_markers()

    def _retry(self, reason: str, retry_after: float | None) -> None:
        self._attempt += 1
        if retry_after is not None:
            delay = retry_after * random.uniform(1.0, 1.2)  # noqa: S311 - jitter, not crypto
        else:
            ceiling = min(self.options.max_backoff, _BACKOFF_BASE_S * 2 ** (self._attempt - 1))
            delay = ceiling * random.uniform(0.5, 1.0)  # noqa: S311
        self._retry_at = time.monotonic() + delay
        self.counters.add("retries")
        self.counters.error(reason)
        log = logger.warning if self._attempt == 1 else logger.debug
        log("sending events failed (%s); retry %d in %.2fs", reason, self._attempt, delay)


def _describe(record: bytes) -> str:
    try:
        head = _decode_event_head(record)
    except msgspec.DecodeError:
        return "undecodable"
    return f"event {head.get('event')!r} uuid {head.get('uuid')}"


def _log_rejected(batch: list[bytes], indexes: set[int], errors: list[_Rejection]) -> None:
    reasons = {e.index: f"{e.field}: {e.reason}" for e in errors}
    shown = sorted(indexes)[:5]
    details = "; ".join(f"{_describe(batch[i])} ({reasons.get(i, 'rejected')})" for i in shown)
    more = f" and {len(indexes) - len(shown)} more" if len(indexes) > len(shown) else ""
    logger.warning(
        "the server refused %d of %d event(s): %s%s", len(indexes), len(batch), details, more
    )
