"""The current definitions, swapped atomically, and the listeners told about each change."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import msgspec

from devflow_sdk._flagsync.definitions import changed_keys

if TYPE_CHECKING:
    from collections.abc import Callable

    from devflow_sdk._flagsync.definitions import Definitions

log = logging.getLogger("devflow_sdk.flags")


class FlagsChange(msgspec.Struct, frozen=True, kw_only=True):
    """New definitions took effect: their ETag, the previous one, the keys whose evaluation may
    have changed (every key on the first load) and where they came from (``server``, ``cache``
    or ``bootstrap``)."""

    etag: str | None
    previous_etag: str | None
    flags_changed: list[str]
    source: str


class DefinitionsStore:
    """Readers take ``current`` without a lock (one reference read); writers serialise."""

    def __init__(self) -> None:
        self.current: Definitions | None = None
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[FlagsChange], None]] = []

    def after_fork(self) -> None:
        # Another thread may have held these at the fork; the child starts with fresh ones.
        self._lock = threading.Lock()
        ready = threading.Event()
        if self.current is not None:
            ready.set()
        self.ready = ready

    def replace(self, new: Definitions) -> FlagsChange | None:
        """Make ``new`` current unless it is the same version; tell the listeners."""
        with self._lock:
            old = self.current
            if old is not None and new.etag is not None and new.etag == old.etag:
                return None
            self.current = new
            listeners = tuple(self._listeners)
        self.ready.set()
        change = FlagsChange(
            etag=new.etag,
            previous_etag=old.etag if old is not None else None,
            flags_changed=changed_keys(old, new),
            source=new.source,
        )
        for listener in listeners:
            try:
                listener(change)
            except Exception:  # a listener's bug must not stop the updates
                log.exception("devflow: a flags on_change listener failed")
        return change

    def add_listener(self, listener: Callable[[FlagsChange], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def clear_listeners(self) -> None:
        with self._lock:
            self._listeners.clear()
