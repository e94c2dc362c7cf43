"""NATS JetStream bus: streams and durable pull consumers declared in code.

Delivery is at-least-once. Publishers set ``Nats-Msg-Id`` so JetStream drops duplicates inside its
window; consumers ack only after their handler (which commits a transaction) returns. A batch that
fails is retried message by message with backoff; a message that still fails after
``max_deliver`` attempts, or cannot be decoded at all, is copied to ``dlq.<stream>.<consumer>`` (a
stream of its own) and terminated so it no longer blocks the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
import nats.js.errors
import psycopg
import psycopg_pool
from nats.js import api
from opentelemetry import propagate, trace

from services.core import metrics
from services.core.errors import StartupError, Unavailable

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

log = logging.getLogger("devflow.bus")
tracer = trace.get_tracer("devflow.bus")

Handler = Callable[[Sequence["Msg"]], Awaitable[None]]

DLQ_STREAM = "DLQ"
# Failures of the infrastructure, not of a message: retried in place, never dead-lettered.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
)


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream as code declares it; :meth:`Bus.ensure_streams` converges to it."""

    name: str
    subjects: list[str]
    duplicate_window_s: float = 120.0
    max_age_s: float = 0.0


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer and the handler of its batches."""

    stream: str
    durable: str
    handler: Handler
    filter_subject: str | None = None
    batch: int = 64
    # Batches handled at once. Above 1 the handler must cope with overlapping calls itself.
    concurrency: int = 1
    max_deliver: int = 5
    ack_wait_s: float = 30.0
    backoff_s: list[float] = field(default_factory=lambda: [0.5, 2.0, 8.0, 30.0])


CORE_STREAMS = [
    StreamSpec("CONTROL", ["flags.changed.>", "persons.changed.>", "billing.>", "churn.>"]),
    StreamSpec(DLQ_STREAM, ["dlq.>"], max_age_s=30 * 86400),
]


class Bus:
    """One NATS connection per process, shared by publishers and consumers."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._closed = False

    @classmethod
    async def connect(cls, url: str, name: str = "devflow") -> Bus:
        """Connect to NATS (reconnecting forever once up); :class:`StartupError` if it can't."""

        async def on_disconnect() -> None:
            """Log the lost connection; nats-py reconnects on its own."""
            log.warning("nats disconnected")

        async def on_reconnect() -> None:
            """Log the restored connection."""
            log.info("nats reconnected")

        async def on_error(exc: Exception) -> None:
            """Log an asynchronous NATS error."""
            log.warning("nats error: %s", exc)

        try:
            nc = await nats.connect(
                url,
                name=name,
                connect_timeout=3,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
            )
        except Exception as exc:  # nats-py raises several unrelated types on a failed connect
            raise StartupError(f"cannot reach NATS at {url}: {exc or type(exc).__name__}") from None
        return cls(nc)

    @property
    def connected(self) -> bool:
        """Whether the NATS connection is up right now."""
        return bool(self.nc.is_connected)

    async def ping(self, timeout_s: float = 1.0) -> bool:
        """A round trip to the server: a frozen broker is not ready even if the socket is open."""
        if not self.connected:
            return False
        try:
            await self.nc.flush(timeout=max(1, round(timeout_s)))
        except Exception:
            return False
        return True

    @property
    def max_payload(self) -> int:
        """The largest message the server accepts, in bytes."""
        return int(self.nc.max_payload)

    async def ensure_streams(self, specs: Sequence[StreamSpec]) -> None:
        """Create each stream, or update it when it exists with other settings."""
        for spec in specs:
            config = api.StreamConfig(
                name=spec.name,
                subjects=spec.subjects,
                storage=api.StorageType.FILE,
                duplicate_window=spec.duplicate_window_s,
                max_age=spec.max_age_s or None,
                max_msg_size=-1,
            )
            try:
                await self.js.add_stream(config)
            except nats.js.errors.BadRequestError:
                # The stream exists with other settings; converge it to the code's declaration.
                await self.js.update_stream(config)

    async def publish(
        self, subject: str, payload: bytes, msg_id: str, timeout_s: float = 5.0
    ) -> api.PubAck:
        """Publish and wait for the JetStream ack; raise :class:`Unavailable` when none comes."""
        if not self.connected:
            raise Unavailable("the event broker is unavailable", headers={"Retry-After": "2"})
        headers = {"Nats-Msg-Id": msg_id}
        propagate.inject(headers)
        try:
            return await self.js.publish(subject, payload, timeout=timeout_s, headers=headers)
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
            metrics.PUBLISH_FAILURES.labels(subject.split(".", 1)[0]).inc()
            raise Unavailable(
                f"the event broker did not acknowledge the data: {type(exc).__name__}",
                headers={"Retry-After": "2"},
            ) from None

    async def notify(self, subject: str, payload: bytes = b"") -> None:
        """A plain publish (no JetStream, no ack): a hint for :meth:`subscribe`rs, best effort."""
        if self.connected:
            try:
                await self.nc.publish(subject, payload)
            except nats.errors.Error as exc:
                log.warning("notification on %s not sent: %s", subject, exc)

    async def subscribe(
        self, subject: str, handler: Callable[[str, bytes], Awaitable[None]]
    ) -> None:
        """A plain (non-durable) subscription: every process gets every message while connected.

        For fan-out of notifications (cache invalidation, live streams), not for data that must
        not be missed; pair it with a periodic check of the durable state.
        """

        async def on_message(msg: Msg) -> None:
            """Run the handler; a failure is logged and never ends the subscription."""
            try:
                await handler(msg.subject, msg.data)
            except Exception:
                log.exception("subscription handler failed on %s", msg.subject)

        await self.nc.subscribe(subject, cb=on_message)

    async def start_consumer(self, spec: ConsumerSpec) -> None:
        """Create or update the durable consumer and start fetching its batches."""
        config = api.ConsumerConfig(
            durable_name=spec.durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            filter_subject=spec.filter_subject,
            max_deliver=spec.max_deliver,
            ack_wait=spec.ack_wait_s,
            max_ack_pending=max(1000, spec.batch * 8),
        )
        # Creating a durable that exists updates its editable settings (ack wait, deliveries).
        await self.js.add_consumer(spec.stream, config)
        sub = await self.js.pull_subscribe_bind(spec.durable, spec.stream)
        self._tasks.append(asyncio.create_task(self._consume(spec, sub), name=spec.durable))

    async def _consume(self, spec: ConsumerSpec, sub: JetStreamContext.PullSubscription) -> None:
        slots = asyncio.Semaphore(spec.concurrency)
        running: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                await slots.acquire()
                msgs = await self._fetch(spec, sub)
                if not msgs:
                    slots.release()
                    continue
                task = asyncio.create_task(self._handle_guarded(spec, msgs))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            if running:
                await asyncio.wait(running)

    async def _fetch(self, spec: ConsumerSpec, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            # nats-py returns an empty batch right after a reconnect.
            return list(await sub.fetch(batch=spec.batch, timeout=1.0))
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # disconnected, server restarting: wait and fetch again
            log.warning("fetch from %s failed: %s", spec.durable, exc)
            await asyncio.sleep(0.5)
            return []

    async def _handle_guarded(self, spec: ConsumerSpec, msgs: Sequence[Msg]) -> None:
        try:
            await self._handle(spec, msgs)
        except Exception:
            # Never let the loop die: unacked messages are redelivered after the ack wait.
            log.exception("consumer %s failed to process a batch", spec.durable)

    async def _handle(self, spec: ConsumerSpec, msgs: Sequence[Msg]) -> None:
        try:
            await self._handle_outage_tolerant(spec, msgs)
        except _Stopping:
            return  # not acked: redelivered to whoever consumes next
        except PoisonMessage as poison:
            log.error("poison message on %s: %s", poison.msg.subject, poison)
            await self._dead_letter(spec, poison.msg, str(poison))
            rest = [m for m in msgs if m is not poison.msg]
            if rest:
                await self._handle(spec, rest)
            return
        except Exception as exc:
            if len(msgs) > 1:
                # Find the bad message: the others must not wait for it.
                for msg in msgs:
                    await self._handle(spec, [msg])
                return
            await self._retry_or_dead_letter(spec, msgs[0], exc)
            return
        for msg in msgs:
            await _quietly(msg.ack())
        metrics.MESSAGES_CONSUMED.labels(spec.durable).inc(len(msgs))

    async def _handle_outage_tolerant(self, spec: ConsumerSpec, msgs: Sequence[Msg]) -> None:
        """Run the handler; while the database is unreachable, wait and try again.

        An outage is not the messages' fault: counting it as failed deliveries would send good
        data to the dead-letter stream. So the batch is held (its ack deadline extended) until the
        handler succeeds or the process stops.
        """
        delay = 0.2
        while True:
            try:
                with _consume_span(spec, msgs[0]):
                    await spec.handler(msgs)
                return
            except TRANSIENT_ERRORS as exc:
                if self._stopping.is_set():
                    raise _Stopping from None
                log.warning("%s waits for the database: %s", spec.durable, exc)
                for msg in msgs:
                    await _quietly(msg.in_progress())
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _retry_or_dead_letter(self, spec: ConsumerSpec, msg: Msg, exc: Exception) -> None:
        delivered = msg.metadata.num_delivered
        reason = f"{type(exc).__name__}: {exc}"
        if delivered >= spec.max_deliver:
            log.error("message failed %d times, dead-lettered: %s", delivered, reason)
            await self._dead_letter(spec, msg, f"failed {delivered} deliveries; last: {reason}")
            return
        delay = spec.backoff_s[min(delivered - 1, len(spec.backoff_s) - 1)]
        log.warning(
            "handler for %s failed (%s); redelivery %d in %.1fs",
            spec.durable,
            reason,
            delivered,
            delay,
        )
        await _quietly(msg.nak(delay=delay))

    async def _dead_letter(self, spec: ConsumerSpec, msg: Msg, reason: str) -> None:
        subject = f"dlq.{spec.stream}.{spec.durable}"
        headers = {
            "Nats-Msg-Id": f"dlq:{spec.stream}:{msg.metadata.sequence.stream}",
            "Devflow-Original-Subject": msg.subject,
            "Devflow-Reason": reason[:500],
        }
        try:
            await self.js.publish(subject, msg.data, headers=headers, timeout=5.0)
        except Exception:
            log.exception("could not dead-letter a message; leaving it for redelivery")
            await _quietly(msg.nak(delay=spec.backoff_s[-1]))
            return
        metrics.DEAD_LETTERED.labels(spec.durable).inc()
        await _quietly(msg.term())

    async def close(self) -> None:
        """Stop consumers after their current batch, then drain the connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
            for task in self._tasks:
                task.cancel()
        # Acks are fire-and-forget publishes: flush them out before closing. (drain() would wait
        # its full timeout on pull subscriptions.)
        with contextlib.suppress(Exception):
            await self.nc.flush(timeout=2)
        with contextlib.suppress(Exception):
            await self.nc.close()


class _Stopping(Exception):
    """The process is stopping while a batch waits for the database: leave it unacked."""


class PoisonMessage(Exception):
    """Raised by a handler for a message that can never succeed (undecodable, wrong type)."""

    def __init__(self, msg: Msg, reason: str) -> None:
        super().__init__(reason)
        self.msg = msg


def _consume_span(spec: ConsumerSpec, first: Msg) -> Any:
    parent = propagate.extract(dict(first.headers or {}))
    return tracer.start_as_current_span(f"consume {spec.durable}", context=parent)


async def _quietly(op: Awaitable[None]) -> None:
    # An ack lost to a disconnect only causes a redelivery, which unique keys absorb.
    try:
        await op
    except Exception as exc:
        log.debug("ack/nak failed: %s", exc)
