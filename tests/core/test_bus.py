"""``services.core.bus`` in process against the suite's NATS: publishing with ``Nats-Msg-Id``
dedupe and trace headers, and the consumer's promises: ack only after the handler returned,
redelivery with backoff, dead letters, poison messages, and database outages retried in place."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import psycopg
import pytest
from nats.aio.msg import Msg
from opentelemetry import context, trace

from services.core.bus import (
    CORE_STREAMS,
    DLQ_STREAM,
    Bus,
    ConsumerSpec,
    PoisonMessage,
    StreamSpec,
)
from services.core.errors import Unavailable
from tests.support import Servers

WAIT_S = 30  # a safety net only: every wait below ends as soon as its condition holds


@pytest.fixture
async def bus(servers: Servers) -> AsyncIterator[Bus]:
    bus = await Bus.connect(servers.shared_nats_url, name="test-bus")
    await bus.ensure_streams(CORE_STREAMS)
    yield bus
    await bus.close()


@pytest.fixture
async def stream(bus: Bus) -> AsyncIterator[str]:
    """A stream of this test's own, on subjects ``<name>.>``."""
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    await bus.ensure_streams([StreamSpec(name, [f"{name}.>"], duplicate_window_s=60)])
    yield name
    await bus.js.delete_stream(name)


async def consume(
    bus: Bus, stream: str, handler: Callable[[Sequence[Msg]], Awaitable[None]], **options: Any
) -> str:
    durable = f"c-{uuid.uuid4().hex[:8]}"
    spec = ConsumerSpec(stream=stream, durable=durable, handler=handler, **options)
    await bus.start_consumer(spec)
    return durable


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT_S)


async def settled(bus: Bus, stream: str, durable: str) -> bool:
    """Every message of the stream delivered and acknowledged (or terminated)."""
    info = await bus.js.consumer_info(stream, durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_the_same_msg_id_is_stored_once(bus: Bus, stream: str) -> None:
    first = await bus.publish(f"{stream}.a", b"one", msg_id="m-1")
    again = await bus.publish(f"{stream}.a", b"one, resent", msg_id="m-1")
    other = await bus.publish(f"{stream}.a", b"two", msg_id="m-2")
    assert not first.duplicate
    assert again.duplicate
    assert again.seq == first.seq
    assert other.seq == first.seq + 1
    info = await bus.js.stream_info(stream)
    assert info.state.messages == 2
    stored = await bus.js.get_msg(stream, first.seq)
    assert stored.data == b"one"
    assert stored.headers is not None
    assert stored.headers["Nats-Msg-Id"] == "m-1"


async def test_the_trace_context_travels_with_the_message(bus: Bus, stream: str) -> None:
    parent = trace.SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(parent)))
    try:
        ack = await bus.publish(f"{stream}.traced", b"x", msg_id="traced")
    finally:
        context.detach(token)
    stored = await bus.js.get_msg(stream, ack.seq)
    assert stored.headers is not None
    assert stored.headers["traceparent"] == (
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
    )

    seen: list[int] = []

    async def handler(msgs: Sequence[Msg]) -> None:
        # The handler runs in a span whose parent is the publisher's.
        seen.append(trace.get_current_span().get_span_context().trace_id)

    durable = await consume(bus, stream, handler)
    await until(lambda: settled(bus, stream, durable))
    assert seen == [parent.trace_id]


async def test_a_message_is_acked_only_after_its_handler_returns(bus: Bus, stream: str) -> None:
    calls: list[tuple[bytes, int]] = []

    async def handler(msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            calls.append((msg.data, msg.metadata.num_delivered))
            if msg.data == b"flaky" and msg.metadata.num_delivered < 3:
                raise RuntimeError("not yet")

    for i, body in enumerate((b"fine", b"flaky", b"also fine")):
        await bus.publish(f"{stream}.work", body, msg_id=f"w-{i}")
    durable = await consume(bus, stream, handler, backoff_s=[0.05], batch=8)
    await until(lambda: settled(bus, stream, durable))
    # A failed batch is retried message by message: the others are acked once their own call
    # returned, and the flaky one is redelivered (nak with backoff) until its handler passes.
    flaky = [n for body, n in calls if body == b"flaky"]
    assert flaky[-2:] == [2, 3]
    assert set(flaky[:-2]) == {1}
    assert {body for body, _ in calls} == {b"fine", b"flaky", b"also fine"}
    assert await _dead_letters(bus, stream, durable) == (0, None)


async def test_a_message_that_keeps_failing_is_dead_lettered(bus: Bus, stream: str) -> None:
    async def handler(msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            if msg.data == b"bad":
                raise ValueError("cannot handle this")

    await bus.publish(f"{stream}.work", b"bad", msg_id="bad")
    await bus.publish(f"{stream}.work", b"good", msg_id="good")
    durable = await consume(bus, stream, handler, backoff_s=[0.05], max_deliver=2)
    await until(lambda: settled(bus, stream, durable))
    count, dead = await _dead_letters(bus, stream, durable)
    assert count == 1
    assert dead.data == b"bad"
    assert dead.headers is not None
    assert dead.headers["Devflow-Original-Subject"] == f"{stream}.work"
    assert dead.headers["Devflow-Reason"] == (
        "failed 2 deliveries; last: ValueError: cannot handle this"
    )


async def test_a_poison_message_is_dead_lettered_at_once(bus: Bus, stream: str) -> None:
    deliveries: list[bytes] = []

    async def handler(msgs: Sequence[Msg]) -> None:
        deliveries.extend(m.data for m in msgs)
        for msg in msgs:
            if msg.data == b"poison":
                raise PoisonMessage(msg, "not a message of ours")

    await bus.publish(f"{stream}.work", b"poison", msg_id="p")
    await bus.publish(f"{stream}.work", b"ok", msg_id="ok")
    durable = await consume(bus, stream, handler, max_deliver=5)
    await until(lambda: settled(bus, stream, durable))
    count, dead = await _dead_letters(bus, stream, durable)
    assert count == 1
    assert dead.data == b"poison"
    assert dead.headers is not None
    assert dead.headers["Devflow-Reason"] == "not a message of ours"
    assert deliveries.count(b"poison") == 1  # never retried


async def test_a_database_outage_is_waited_out_without_using_up_deliveries(
    bus: Bus, stream: str
) -> None:
    attempts: list[int] = []

    async def handler(msgs: Sequence[Msg]) -> None:
        attempts.append(msgs[0].metadata.num_delivered)
        if len(attempts) < 3:
            raise psycopg.OperationalError("the database is restarting")

    await bus.publish(f"{stream}.work", b"x", msg_id="x")
    durable = await consume(bus, stream, handler, max_deliver=1)
    await until(lambda: settled(bus, stream, durable))
    assert attempts == [1, 1, 1]  # the same delivery, held, not redelivered
    assert await _dead_letters(bus, stream, durable) == (0, None)


async def test_publishing_without_a_connection_is_unavailable(servers: Servers) -> None:
    bus = await Bus.connect(servers.shared_nats_url)
    await bus.close()
    assert not bus.connected
    with pytest.raises(Unavailable) as caught:
        await bus.publish("anything.x", b"", msg_id="m")
    assert caught.value.headers == {"Retry-After": "2"}


async def _dead_letters(bus: Bus, stream: str, durable: str) -> tuple[int, Any]:
    """How many messages the consumer dead-lettered, and the last one."""
    subject = f"dlq.{stream}.{durable}"
    info = await bus.js.stream_info(DLQ_STREAM, subjects_filter=subject)
    count = (info.state.subjects or {}).get(subject, 0)
    if not count:
        return 0, None
    return count, await bus.js.get_last_msg(DLQ_STREAM, subject)
