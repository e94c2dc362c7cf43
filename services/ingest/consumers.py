"""The events writer: a durable pull consumer on ``EVENTS`` that stores batches exactly once.

Each fetched batch becomes one transaction: binary COPY into a staging table, drop what is already
stored, apply the persons projection to the rest, insert (``ON CONFLICT DO NOTHING``) into
``events`` (and the rollup, natively). The bus acks the messages only after the commit.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.persons import PersonChanged, PersonsMerged
from services.core import metrics
from services.core.bus import ConsumerSpec, PoisonMessage
from services.ingest import persons, repo
from services.ingest.config import IngestConfig

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nats.aio.msg import Msg

    from services.core.service import Context
    from services.ingest.storage import Partitions

log = logging.getLogger("devflow.ingest.writer")
STREAM = "EVENTS"
DURABLE = "events-writer"


class _WireEvent(msgspec.Struct):
    """The writer's view of :class:`schemas.events.CapturedEvent`: properties stay raw JSON, so
    events that don't touch persons are stored without decoding and re-encoding them."""

    uuid: str
    event: str
    distinct_id: str
    timestamp: datetime
    properties: msgspec.Raw


class _WireBatch(msgspec.Struct, tag="events.batch", tag_field="type"):
    project_id: int
    received_at: datetime
    events: list[_WireEvent]


_decoder = msgspec.json.Decoder(_WireBatch)
_person_encoder = msgspec.json.Encoder()
# Events whose properties may touch persons; others are stored without decoding their properties.
_PERSON_MARKERS = re.compile(rb'"\$(?:set|unset|anon_distinct_id|group_)|"alias"')


def _person_props(ev: _WireEvent) -> dict[str, Any]:
    raw = bytes(ev.properties)
    # The markers cover every property the projection reads ($identify without an anonymous id
    # needs none), so $pageview and friends are not decoded.
    if _PERSON_MARKERS.search(raw):
        decoded = msgspec.json.decode(raw)
        return decoded if isinstance(decoded, dict) else {}
    return {}


class Writer:
    """The events writer: stores fetched batches exactly once and applies the persons projection."""

    def __init__(self, ctx: Context, partitions: Partitions) -> None:
        self.ctx = ctx
        self.partitions = partitions
        self.rollup_table = ctx.storage_mode != "timescaledb"
        # Two batches are in flight at once (see writer_consumers); this chain makes their
        # persons updates run in the order the batches were fetched.
        self._persons_turn: asyncio.Future[None] | None = None
        # And this one their partition step: a batch creates missing partitions only after the
        # earlier batch has, and enters its transaction only after that. Otherwise the later
        # batch could hold its locks on `events` while waiting for the earlier one's persons
        # step, and the earlier one's CREATE TABLE … PARTITION OF would wait for those locks.
        self._partitions_turn: asyncio.Future[None] | None = None

    async def handle(self, msgs: Sequence[Msg]) -> None:
        """Store one fetched batch in one transaction; the bus acks it after this returns.

        Two calls overlap (the consumer's concurrency is 2); the futures chained here keep their
        partition step and persons step in fetch order, so person updates apply in event order.
        """
        loop = asyncio.get_running_loop()
        previous, previous_partitions = self._persons_turn, self._partitions_turn
        mine: asyncio.Future[None] = loop.create_future()
        my_partitions: asyncio.Future[None] = loop.create_future()
        self._persons_turn, self._partitions_turn = mine, my_partitions
        try:
            await self._handle(msgs, previous, mine, previous_partitions, my_partitions)
        finally:
            for future in (my_partitions, mine):
                if not future.done():
                    future.set_result(None)

    async def _handle(
        self,
        msgs: Sequence[Msg],
        previous: asyncio.Future[None] | None,
        done: asyncio.Future[None],
        previous_partitions: asyncio.Future[None] | None,
        partitions_done: asyncio.Future[None],
    ) -> None:
        batches: list[_WireBatch] = []
        for msg in msgs:
            try:
                batches.append(_decoder.decode(msg.data))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise PoisonMessage(msg, f"undecodable events message: {exc}") from None
        events = _unique(batches)
        if previous_partitions is not None:
            await asyncio.shield(previous_partitions)
        if not events:
            return
        await self.partitions.ensure({e.timestamp.astimezone(UTC).date() for _, e in events})
        partitions_done.set_result(None)
        rows = [
            (seq, pid, e.uuid, e.event, e.distinct_id, e.timestamp, bytes(e.properties).decode())
            for seq, (pid, e) in enumerate(events)
        ]
        messages: list[PersonChanged | PersonsMerged] = []
        async with self.ctx.pool.connection() as conn, conn.transaction():
            stored = await repo.stage(conn, rows)
            fresh = [(seq, pid, e) for seq, (pid, e) in enumerate(events) if seq not in stored]
            if previous is not None:
                # The earlier batch has run its persons step and holds the projection lock until
                # it commits; ours queues behind it.
                await asyncio.shield(previous)
            person_rows: list[tuple[int, str]] = []
            # Projects in a fixed order, so writers never take their locks in opposite orders.
            for project_id, group in sorted(_by_project(fresh).items()):
                outcome = await persons.apply(
                    conn,
                    project_id,
                    [
                        persons.PersonEvent(e.distinct_id, e.event, e.timestamp, _person_props(e))
                        for _, e in group
                    ],
                )
                person_rows += zip((seq for seq, _ in group), outcome.person_ids, strict=True)
                messages += outcome.messages
            done.set_result(None)  # the next batch may now queue for the lock
            await repo.store(conn, person_rows, rollup_table=self.rollup_table)
        metrics.EVENTS_WRITTEN.inc(len(fresh))
        metrics.EVENTS_DUPLICATE.inc(len(events) - len(fresh))
        if messages:
            await self._announce(messages)

    async def _announce(self, messages: list[PersonChanged | PersonsMerged]) -> None:
        # After the commit: a crash here loses a notification, never data; consumers of
        # persons.changed re-read the projection when they need certainty.
        async def one(m: PersonChanged | PersonsMerged) -> None:
            """Publish one change; its id (person, version, kind) makes a retry a duplicate."""
            ident = m.person_id if isinstance(m, PersonChanged) else m.source_person_id
            version = m.version if isinstance(m, PersonChanged) else 0
            await self.ctx.bus.publish(
                f"persons.changed.{m.project_id}",
                _person_encoder.encode(m),
                msg_id=f"person:{ident}:{version}:{type(m).__name__}",
            )

        results = await asyncio.gather(*(one(m) for m in messages), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning("%d persons.changed notifications not published", len(failed))


def _unique(batches: list[_WireBatch]) -> list[tuple[int, _WireEvent]]:
    """Events in order, each once: a retry or redelivery may put an event twice in one fetch."""
    seen: set[tuple[int, str]] = set()
    out: list[tuple[int, _WireEvent]] = []
    for batch in batches:
        for event in batch.events:
            key = (batch.project_id, event.uuid)
            if key not in seen:
                seen.add(key)
                out.append((batch.project_id, event))
    return out


def _by_project(
    events: list[tuple[int, int, _WireEvent]],
) -> dict[int, list[tuple[int, _WireEvent]]]:
    """``(seq, project, event)`` triples grouped by project, in order."""
    grouped: dict[int, list[tuple[int, _WireEvent]]] = {}
    for seq, project_id, event in events:
        grouped.setdefault(project_id, []).append((seq, event))
    return grouped


def writer_consumers(ctx: Context, writer: Writer) -> list[ConsumerSpec]:
    """The ``events-writer`` durable consumer on ``EVENTS``, two batches in flight."""
    return [
        ConsumerSpec(
            stream=STREAM,
            durable=DURABLE,
            filter_subject="events.>",
            handler=writer.handle,
            batch=ctx.settings_of(IngestConfig).writer_fetch_batch,
            # While one batch is in PostgreSQL, the next is decoded and staged.
            concurrency=2,
            max_deliver=ctx.settings.writer_max_deliver,
            ack_wait_s=ctx.settings.writer_ack_wait_s,
        )
    ]
