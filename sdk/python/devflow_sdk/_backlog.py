"""Where the sender takes batches from: the memory queue itself, or the on-disk spool.

Both present the same interface to the sender: ``absorb`` (move what callers queued to where
batches are read from), ``peek`` (the next batch, left in place until ``commit``), ``commit``
(the batch is done with: acknowledged, or refused for good) and flush markers, which complete
once every event queued before them is committed.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from devflow_sdk._log import RateLimitedWarning
from devflow_sdk._queue import Marker

if TYPE_CHECKING:
    from devflow_sdk._queue import CaptureQueue
    from devflow_sdk._spool import Spool

__all__ = ["MemoryBacklog", "SpoolBacklog"]


class _Backlog:
    def __init__(self, queue: CaptureQueue) -> None:
        self.queue = queue
        self.markers: list[tuple[Marker, Any]] = []

    def reached(self, token: Any) -> bool:
        raise NotImplementedError

    def fire_markers(self) -> None:
        if self.markers:
            waiting = []
            for marker, token in self.markers:
                if self.reached(token):
                    marker.done(True)
                else:
                    waiting.append((marker, token))
            self.markers = waiting

    def fail_markers(self) -> None:
        for marker, _ in self.markers:
            marker.done(False)
        self.markers = []
        for item in list(self.queue.items):  # a snapshot: callers may be appending
            if type(item) is Marker:
                item.done(False)
        self.queue.flushes = 0


class MemoryBacklog(_Backlog):
    """Batches come straight off the capture queue; the batch in flight is held aside.

    The queue's bound is thus the memory bound: while a batch is being retried, callers keep
    filling the queue up to ``max_queue_size`` and then their events are counted as dropped.
    """

    lost_hint = "set spool_dir= to keep unsent events on disk"
    writes_to_disk = False

    def __init__(self, queue: CaptureQueue) -> None:
        super().__init__(queue)
        self.inflight: list[bytes] = []
        self.taken = 0
        self.committed = 0

    @property
    def pending(self) -> int:
        return len(self.queue.items) + len(self.inflight)

    @property
    def queued(self) -> int:
        return len(self.inflight) + self.queue.events()

    @property
    def spooled(self) -> int:
        return 0

    def absorb(self) -> None:
        items = self.queue.items
        while items and isinstance(items[0], Marker):
            self.markers.append((self.queue.take_marker(), self.taken))

    def reached(self, token: Any) -> bool:
        return bool(self.committed >= token)

    def peek(self, max_events: int, max_bytes: int) -> list[bytes]:
        items, inflight = self.queue.items, self.inflight
        size = sum(len(r) for r in inflight)
        while items and len(inflight) < max_events:
            item = items[0]
            if isinstance(item, Marker):
                self.markers.append((self.queue.take_marker(), self.taken))
                continue
            if inflight and size + len(item) > max_bytes:
                break
            self.queue.held += 1  # before popleft: a racing put() never sees room twice
            items.popleft()
            inflight.append(item)
            self.taken += 1
            size += len(item)
        return _limit(inflight, max_events, max_bytes)

    def commit(self, n: int) -> None:
        del self.inflight[:n]
        self.queue.held = len(self.inflight)
        self.committed += n

    def open(self) -> None:
        pass

    def adopt_orphans(self) -> None:
        pass

    def drop_all(self) -> int:
        """At shutdown: forget what could not be sent; the number of events lost."""
        lost = len(self.inflight) + sum(1 for i in list(self.queue.items) if type(i) is bytes)
        self.fail_markers()
        self.inflight.clear()
        self.queue.held = 0
        self.queue.items.clear()
        return lost

    def close(self) -> None:
        pass


class SpoolBacklog(_Backlog):
    """Everything queued is written to the spool first; batches are read back from it."""

    lost_hint = "the spool was full"
    writes_to_disk = True

    def __init__(self, queue: CaptureQueue, spool: Spool) -> None:
        super().__init__(queue)
        self.spool = spool
        self._full = RateLimitedWarning(
            "the spool is full (spool_max_bytes=%d); events wait in memory, then are dropped"
        )

    @property
    def pending(self) -> int:
        return len(self.queue.items) + self.spool.pending

    @property
    def queued(self) -> int:
        return self.queue.held + self.queue.events()

    @property
    def spooled(self) -> int:
        return self.spool.pending

    def absorb(self) -> None:
        """Move queued events to disk, in order, as far as the spool has room."""
        queue, spool = self.queue, self.spool
        items = queue.items
        group: list[bytes] = []
        size = 0
        try:
            while items:
                item = items[0]
                if isinstance(item, Marker):
                    if group:
                        spool.append(group)
                        group, size, queue.held = [], 0, 0
                    self.markers.append((queue.take_marker(), spool.mark()))
                    continue
                if not spool.has_room(size + len(item)):
                    self._full(spool.max_bytes)
                    break
                # Until written, taken events still count as queued (for the bound and stats).
                queue.held += 1
                items.popleft()
                group.append(item)
                size += len(item) + 8
            if group:
                spool.append(group)
        except OSError:
            items.extendleft(reversed(group))  # keep them in memory, in order, and retry later
            raise
        finally:
            queue.held = 0

    def reached(self, token: Any) -> bool:
        return self.spool.reached(token)

    def peek(self, max_events: int, max_bytes: int) -> list[bytes]:
        return self.spool.peek(max_events, max_bytes)

    def commit(self, n: int) -> None:
        self.spool.commit(n)

    def open(self) -> None:
        self.spool.open()

    def adopt_orphans(self) -> None:
        self.spool.adopt_if_due()

    def drop_all(self) -> int:
        """At shutdown: write what memory still holds; what does not fit is lost."""
        with contextlib.suppress(OSError):
            self.absorb()
        lost = sum(1 for i in list(self.queue.items) if type(i) is bytes)
        self.fail_markers()
        self.queue.items.clear()
        return lost

    def close(self) -> None:
        self.spool.close()


def _limit(records: list[bytes], max_events: int, max_bytes: int) -> list[bytes]:
    out: list[bytes] = []
    size = 0
    for record in records[:max_events]:
        if out and size + len(record) > max_bytes:
            break
        out.append(record)
        size += len(record)
    return out
