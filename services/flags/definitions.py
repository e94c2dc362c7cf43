"""Each process's view of the flag definitions: compiled, cached per project, kept current.

A snapshot is keyed by the project's revision (moved in the same transaction as any change).
Changes arrive as plain NATS messages on ``flags.changed.>`` so every instance reloads within
milliseconds; a periodic revision check covers messages missed while disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from devflow_sdk.flags import FlagSet, with_dependency_chains

from schemas.flags import DefinitionFlag, Definitions, FlagsMessage
from services.flags import repo

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.core.service import Context

log = logging.getLogger("devflow.flags")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(FlagsMessage)
# How long a snapshot is served before the revision is read again, without any message.
REVALIDATE_S = 1.0
WATCH_CHECK_S = 2.0


@dataclass(frozen=True)
class Snapshot:
    """A project's compiled flag definitions at one revision, and their served document."""

    project_id: int
    revision: int
    flagset: FlagSet
    # The local-evaluation document (PostHog's shape) and its ETag.
    body: bytes
    etag: str
    # Whether evaluation must look up static cohort membership at all.
    has_static_cohorts: bool = False


class Hub:
    """The process's cache of definition snapshots per project, kept current by messages."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._snapshots: dict[int, Snapshot] = {}
        self._checked: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._watchers: dict[int, set[asyncio.Queue[Snapshot]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to definition changes and start the revision watch and the drain watcher."""
        await self._ctx.bus.subscribe("flags.changed.>", self._on_message)
        self._task = asyncio.create_task(self._watch_loop(), name="flags-watch")
        self._drain_task = asyncio.create_task(self._end_streams_on_drain(), name="flags-drain")

    async def _end_streams_on_drain(self) -> None:
        await self._ctx.draining.wait()
        self._close_listeners()

    async def stop(self) -> None:
        """Stop the background tasks and end every open definitions stream."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._drain_task:
            self._drain_task.cancel()
        self._close_listeners()

    def _close_listeners(self) -> None:
        for queues in self._watchers.values():
            for q in queues:
                q.put_nowait(CLOSED)

    async def snapshot(self, project_id: int) -> Snapshot:
        """The project's current snapshot; the cached one while checked in the last second."""
        cached = self._snapshots.get(project_id)
        if cached and time.monotonic() - self._checked.get(project_id, 0.0) < REVALIDATE_S:
            return cached
        return await self.refresh(project_id)

    async def refresh(self, project_id: int, at_least: int = 0) -> Snapshot:
        """Reload when the stored revision moved (or is below ``at_least``); notify watchers."""
        lock = self._locks.setdefault(project_id, asyncio.Lock())
        async with lock:
            cached = self._snapshots.get(project_id)
            if cached and cached.revision >= at_least and self._fresh(project_id):
                return cached
            async with self._ctx.pool.connection() as conn:
                revision = await repo.select_revision(conn, project_id)
                if cached is None or cached.revision != revision:
                    cached = await _load(conn, project_id, revision)
                    self._snapshots[project_id] = cached
                    self._notify(cached)
            self._checked[project_id] = time.monotonic()
            return cached

    def _fresh(self, project_id: int) -> bool:
        # Inside the lock: a refresh that just finished answers for the ones queued behind it.
        return time.monotonic() - self._checked.get(project_id, 0.0) < 0.05

    @contextlib.contextmanager
    def listen(self, project_id: int) -> Iterator[asyncio.Queue[Snapshot]]:
        """A queue that receives every new snapshot of the project (and ``CLOSED`` at stop)."""
        queue: asyncio.Queue[Snapshot] = asyncio.Queue()
        self._watchers.setdefault(project_id, set()).add(queue)
        try:
            yield queue
        finally:
            self._watchers[project_id].discard(queue)

    def _notify(self, snapshot: Snapshot) -> None:
        for queue in self._watchers.get(snapshot.project_id, ()):
            queue.put_nowait(snapshot)

    async def _on_message(self, _subject: str, data: bytes) -> None:
        message = _decoder.decode(data)
        cached = self._snapshots.get(message.project_id)
        if cached is None and message.project_id not in self._watchers:
            return  # nobody here uses this project yet; it loads on first use
        if cached is None or cached.revision < message.revision:
            self._checked.pop(message.project_id, None)
            await self.refresh(message.project_id, at_least=message.revision)

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_CHECK_S)
            for project_id in [p for p, qs in self._watchers.items() if qs]:
                try:
                    self._checked.pop(project_id, None)
                    await self.refresh(project_id)
                except Exception:
                    log.exception("revision check failed for project %s", project_id)


async def _load(conn: repo.Conn, project_id: int, revision: int) -> Snapshot:
    flags = await repo.select_flags(conn, project_id, archived=False)
    cohort_rows = await repo.select_cohort_definitions(conn, project_id)
    mapping = await repo.select_group_types(conn, project_id)
    wire_flags = [
        DefinitionFlag(
            id=f.id,
            team_id=project_id,
            key=f.key,
            name=f.name,
            active=f.active,
            deleted=False,
            filters=f.filters,
            ensure_experience_continuity=f.ensure_experience_continuity,
            version=f.version,
        )
        for f in flags
    ]
    # Local evaluation gets dynamic cohorts as property groups (PostHog's shape); static cohorts
    # are lists of people that stay on the server, which looks membership up per request.
    dynamic: dict[str, Any] = {
        str(cid): (filters or {}).get("properties", {})
        for cid, is_static, filters in cohort_rows
        if not is_static
    }
    server_cohorts: dict[str, Any] = {
        **dynamic,
        **{str(cid): {"is_static": True} for cid, is_static, _ in cohort_rows if is_static},
    }
    # Dependencies are stored by flag id; SDKs get them as PostHog serves them (by key, with
    # the dependency chain), and the server's own engine reads the same document.
    served = with_dependency_chains([msgspec.to_builtins(f) for f in wire_flags])
    body = _encoder.encode(
        Definitions(
            flags=msgspec.convert(served, list[DefinitionFlag]),
            group_type_mapping=mapping,
            cohorts=dynamic,
            revision=revision,
        )
    )
    flagset = FlagSet(served, cohorts=server_cohorts, group_type_mapping=mapping)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    has_static = any(is_static for _, is_static, _ in cohort_rows)
    return Snapshot(project_id, revision, flagset, body, etag, has_static)


# Put in listeners' queues when the process stops, so open streams end.
CLOSED: Any = object()
