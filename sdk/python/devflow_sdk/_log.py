"""The SDK's logger (``logging.getLogger("devflow_sdk")``), and rate-limited warnings."""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["RateLimitedWarning", "enable_debug", "logger"]

logger = logging.getLogger("devflow_sdk")


def enable_debug() -> None:
    """Log at DEBUG level, to stderr when the application configured no handler for us."""
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


class RateLimitedWarning:
    """A warning that repeats at most once per ``interval`` seconds, with a running count.

    Dropping events under load can happen thousands of times a second; one line per drop would
    flood the log, none would hide it.
    """

    def __init__(self, message: str, interval: float = 10.0) -> None:
        self._message = message
        self._interval = interval
        self._lock = threading.Lock()
        self._count = 0
        self._last = float("-inf")

    def __call__(self, *args: object) -> None:
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if now - self._last < self._interval:
                return
            self._last = now
            count = self._count
        logger.warning(self._message + " (%d so far)", *args, count)
