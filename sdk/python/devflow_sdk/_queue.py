"""The bounded hand-off between callers and the sender thread.

``put`` is the whole cost a caller pays to enqueue: a length check and a ``deque.append``, both
atomic under the GIL, so there is no lock on this path. The bound is therefore approximate by
at most the number of threads capturing at the same instant, which is fine for a memory cap.
The sender is woken when the queue reaches ``flush_at`` events (a full batch), otherwise it
wakes on its own every ``flush_interval``.

Flush markers travel in the same deque, so "everything captured before ``flush()``" is exactly
the items ahead of the marker.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CaptureQueue", "Marker"]


class Marker:
    """A flush request: done once every event queued before it was sent (or given up on)."""

    __slots__ = ("_callbacks", "_event", "_lock", "ok")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[bool], None]] = []
        self.ok = False

    def done(self, ok: bool) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.ok = ok
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(ok)

    def on_done(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(ok)`` when done (from the sender thread), or now if already done."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback(self.ok)

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout) and self.ok


class CaptureQueue:
    """Encoded events (``bytes``) and flush markers, in capture order."""

    def __init__(self, maxsize: int, flush_at: int) -> None:
        self.items: deque[bytes | Marker] = deque()
        self.maxsize = maxsize
        self.flush_at = flush_at
        self.wake = threading.Event()
        # Events the sender took off the deque but has not finished with (its batch in flight,
        # without a spool): they still count against ``maxsize``.
        self.held = 0
        # Flush markers put and not yet taken by the sender: while any waits, send at once.
        self.flushes = 0
        self._flush_lock = threading.Lock()

    def put(self, record: bytes) -> bool:
        """Enqueue ``record``; ``False`` when the queue is full (the caller counts the drop)."""
        items = self.items
        n = len(items)
        if n + self.held >= self.maxsize:
            return False
        items.append(record)
        if n + 1 == self.flush_at:
            self.wake.set()
        return True

    def put_marker(self, marker: Marker) -> None:
        """Markers are never refused: a flush must be able to complete even when full."""
        with self._flush_lock:
            self.flushes += 1
            self.items.append(marker)
        self.wake.set()

    def take_marker(self) -> Marker:
        """Pop the marker at the head of the queue (the sender's side)."""
        with self._flush_lock:
            marker = self.items.popleft()
            assert isinstance(marker, Marker)
            self.flushes -= 1
        return marker

    def events(self) -> int:
        """Events in the deque (markers excluded), without iterating it (other threads
        append and pop meanwhile; iterating a deque that changes raises)."""
        return max(0, len(self.items) - self.flushes)

    def __len__(self) -> int:
        return len(self.items)
