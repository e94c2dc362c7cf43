"""The background thread that keeps local definitions current.

It fetches the definitions once, then holds the server-sent event stream open and applies each
``definitions`` event as it arrives. While the stream is down (server restarting, a proxy that
doesn't pass it, streaming turned off) it polls with ``If-None-Match`` every ``poll_interval``
and reconnects with exponential backoff and jitter, sending ``Last-Event-ID`` so an unchanged
server doesn't resend what we have.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import TYPE_CHECKING

from devflow_sdk._flagsync.definitions import SERVER, DefinitionsError, parse
from devflow_sdk._flagsync.fetch import EventParser, fetch_definitions, open_stream
from devflow_sdk.errors import APIError, TransportError

if TYPE_CHECKING:
    from devflow_sdk._flagsync.cache import DiskCache
    from devflow_sdk._flagsync.definitions import Definitions
    from devflow_sdk._flagsync.store import DefinitionsStore
    from devflow_sdk._http import Transport

log = logging.getLogger("devflow_sdk.flags")


class Backoff:
    """Exponential delays with "equal jitter": half fixed, half random, so that many clients
    dropped by one server restart don't come back in lockstep."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base, self.cap = base, cap
        self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0

    def next(self, at_least: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not secrets
        return max(delay, at_least or 0.0)


class DefinitionsSync:
    """Runs in one daemon thread; ``settled`` is set once evaluation can start (fresh
    definitions arrived, or the first attempt failed but cached ones are there)."""

    def __init__(
        self,
        *,
        transport: Transport,
        stream_transport: Transport,
        token: str,
        secret_key: str,
        store: DefinitionsStore,
        cache: DiskCache | None,
        stream: bool,
        poll_interval: float,
    ) -> None:
        self._transport = transport
        self._stream_transport = stream_transport
        self._token = token
        self._secret_key = secret_key
        self._store = store
        self._cache = cache
        self._stream = stream
        self._poll_interval = poll_interval
        self._stop = threading.Event()
        self._warned_auth = False
        self.settled = threading.Event()
        self.streaming = False
        self._thread = threading.Thread(target=self._run, name="devflow-flags-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop and join the thread (a stream read blocked in the kernel is abandoned after
        ``timeout``: the thread is a daemon and exits at its next line)."""
        self._stop.set()
        self._stream_transport.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # the thread must never die silently with stale flags
            log.exception("devflow: the flags sync thread stopped on an unexpected error")

    def _loop(self) -> None:
        self._poll()
        next_poll = time.monotonic() + self._poll_interval
        backoff = Backoff()
        while not self._stop.is_set():
            reconnect_at = float("inf")
            if self._stream:
                delivered, retry_after = self._listen()
                if self._stop.is_set():
                    return
                if delivered:
                    backoff.reset()
                delay = backoff.next(retry_after)
                reconnect_at = time.monotonic() + delay
                log.debug("devflow: flags stream down, reconnecting in %.1fs", delay)
            # Stream down or off: poll on schedule until it is time to reconnect.
            while (now := time.monotonic()) < reconnect_at:
                if self._stop.wait(max(0.0, min(reconnect_at, next_poll) - now)):
                    return
                if time.monotonic() >= next_poll:
                    self._poll()
                    next_poll = time.monotonic() + self._poll_interval

    def _poll(self) -> None:
        current = self._store.current
        try:
            fresh = fetch_definitions(
                self._transport, self._token, self._secret_key, current.etag if current else None
            )
        except (TransportError, APIError, DefinitionsError) as exc:
            self._failed("polling", exc)
            if self._store.current is not None:
                self.settled.set()
            return
        if fresh is not None:
            self._accept(fresh)
        self.settled.set()

    def _listen(self) -> tuple[bool, float | None]:
        """Hold the stream until it ends; returns (whether anything arrived, Retry-After)."""
        current = self._store.current
        delivered = False
        try:
            with open_stream(
                self._stream_transport,
                self._token,
                self._secret_key,
                current.etag if current else None,
            ) as lines:
                self.streaming = True
                parser = EventParser()
                for line in lines:
                    delivered = True
                    if self._stop.is_set():
                        break
                    event = parser.feed(line)
                    if event is not None and event.event == "definitions":
                        self._apply_event(event.data, event.id)
        except APIError as exc:
            self._failed("streaming", exc)
            return delivered, exc.retry_after
        except TransportError as exc:
            if not self._stop.is_set():
                self._failed("streaming", exc)
        except Exception as exc:  # a closed transport at shutdown may surface as anything
            if not self._stop.is_set():
                log.debug("devflow: flags stream failed: %r", exc)
        finally:
            self.streaming = False
        return delivered, None

    def _apply_event(self, data: str, event_id: str | None) -> None:
        try:
            fresh = parse(data.encode(), etag=event_id, source=SERVER)
        except DefinitionsError as exc:
            log.warning("devflow: ignoring unusable definitions from the stream: %s", exc)
            return
        self._accept(fresh)
        self.settled.set()

    def _accept(self, fresh: Definitions) -> None:
        change = self._store.replace(fresh)
        if change is not None:
            log.debug("devflow: flag definitions %s took effect", fresh.etag)
            if self._cache is not None:
                self._cache.save(fresh)

    def _failed(self, what: str, exc: Exception) -> None:
        if isinstance(exc, APIError) and exc.status in (401, 403):
            if not self._warned_auth:
                self._warned_auth = True
                log.warning("devflow: flag definitions refused (%s); check the secret key", exc)
            return
        log.debug("devflow: flag definitions %s failed: %s", what, exc)
