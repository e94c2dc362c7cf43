"""``AsyncClient``: the same client for asyncio applications.

The event methods are the plain, non-blocking ones of ``Client`` (they never await anything:
an ``await`` per event would cost more than the event). ``flush`` and ``shutdown`` are
coroutines that wait without blocking the loop, and flag reads run in a worker thread because
a flag that local evaluation cannot decide is asked of the server.

Sending happens on the same daemon thread as ``Client``'s rather than on the event loop: gzip,
JSON joining and spool writes never stall the loop, and events queued just before the loop
closes are still sent at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from devflow_sdk._client import BaseClient

if TYPE_CHECKING:
    from typing import Unpack

    from devflow_sdk._flag_context import FlagContext, FlagReadContext
    from devflow_sdk._flags_manager import FlagDetails
    from devflow_sdk._queue import Marker

__all__ = ["AsyncClient"]


async def _wait(marker: Marker, limit: float | None) -> bool:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bool] = loop.create_future()

    def resolve(ok: bool) -> None:
        if not future.done():
            future.set_result(ok)

    def on_done(ok: bool) -> None:
        # A closed loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(resolve, ok)

    marker.on_done(on_done)
    try:
        return await asyncio.wait_for(future, limit)
    except TimeoutError:
        return False


class AsyncClient(BaseClient):
    """The asyncio client: ``AsyncClient(token, host=..., secret_key=None, **options)``.

    Takes the same options as ``Client``. Use ``async with AsyncClient(...) as client:`` or
    ``await client.shutdown()``.
    """

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - as Client's
        """Wait until every event queued before this call is sent; ``False`` on timeout."""
        return await _wait(self._pipeline.flush_marker(), timeout)

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Send what is queued (for up to ``timeout`` seconds, default ``shutdown_timeout``),
        then stop; see ``Client.shutdown``."""
        deadline = self._close(timeout)
        if not self._pipeline.done:  # a sender that never started has nothing to finish
            await _wait(self._pipeline.sender.finished, max(0.0, deadline - time.monotonic()) + 0.5)
        self._closed()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    # -- feature flags: in a worker thread, since an undecidable flag asks the server ------------
    # The keywords are FlagReads' (Client's), declared once in FlagReadContext / FlagContext.

    async def get_flag_details(
        self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]
    ) -> FlagDetails:
        """The flag for ``distinct_id`` with how it was decided; see ``Client.get_flag_details``."""
        return await asyncio.to_thread(self._flags.get_flag_details, key, distinct_id, **context)

    async def get_flag(
        self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]
    ) -> bool | str | None:
        """The flag's value for ``distinct_id``: a variant, ``True``/``False``, or ``None``."""
        return await asyncio.to_thread(self._flags.get_flag, key, distinct_id, **context)

    async def is_enabled(
        self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]
    ) -> bool:
        """Whether the flag is on for ``distinct_id`` (``False`` without an answer)."""
        return await asyncio.to_thread(self._flags.is_enabled, key, distinct_id, **context)

    async def get_payload(
        self, key: str, distinct_id: str, **context: Unpack[FlagReadContext]
    ) -> Any:
        """The payload of the variant ``distinct_id`` gets, decoded from JSON (sends no exposure
        unless ``send_exposure=True``)."""
        return await asyncio.to_thread(self._flags.get_payload, key, distinct_id, **context)

    async def get_all_flags(
        self, distinct_id: str, **context: Unpack[FlagContext]
    ) -> dict[str, bool | str]:
        """Every flag with an answer for ``distinct_id`` (sends no exposures)."""
        return await asyncio.to_thread(self._flags.get_all_flags, distinct_id, **context)
