"""Background jobs on the PostgreSQL broker and periodic jobs, in Contexts built in this process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq_postgres
import psycopg
import pytest
from dramatiq.worker import ConsumerThread, WorkerThread

from services.core.errors import ConfigError
from services.core.jobs import Job, Periodic
from services.core.migrate import migrate
from services.core.runtime import running
from services.core.service import Context, Service
from services.core.settings import Settings
from tests.support import Servers, eventually, new_database

TICK_S = 0.5


@pytest.fixture
def settings(servers: Servers) -> Settings:
    url = new_database(servers.pg_url)
    migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE job_log (n bigserial PRIMARY KEY, what text NOT NULL,"
            " at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
    return Settings(database_url=url, nats_url=servers.shared_nats_url, db_pool_max=4)


@pytest.fixture(autouse=True)
def no_threads_left_behind() -> Any:
    yield
    left = [
        t
        for t in threading.enumerate()
        if isinstance(t, WorkerThread | ConsumerThread) or t.name == "dramatiq-postgres-notifier"
    ]
    assert left == []


# --- the test service ----------------------------------------------------------------------------


async def _log(ctx: Context, what: str) -> int:
    """Log ``what`` (committed) and return how many times it is logged now."""
    async with ctx.pool.connection() as conn:
        await conn.execute("INSERT INTO job_log (what) VALUES (%s)", (what,))
        cur = await conn.execute("SELECT count(*) FROM job_log WHERE what = %s", (what,))
        count = await cur.fetchone()
    return int(count[0]) if count else 0


async def record(ctx: Context, payload: dict[str, Any]) -> None:
    await _log(ctx, payload["what"])


async def flaky(ctx: Context, payload: dict[str, Any]) -> None:
    if await _log(ctx, "flaky attempt") <= payload["failures"]:
        raise RuntimeError("not this time")
    await _log(ctx, "flaky done")


async def doomed(ctx: Context, payload: dict[str, Any]) -> None:
    await _log(ctx, "doomed attempt")
    raise RuntimeError("never works")


def service(
    label: str = "a", periodic: Callable[[Context], Awaitable[None]] | None = None
) -> Service:
    async def tick(ctx: Context) -> None:
        await _log(ctx, f"tick {label}")

    return Service(
        name="test",
        jobs=lambda ctx: [
            Job("test.record", record),
            Job("test.flaky", flaky, min_backoff_s=0.1, max_backoff_s=0.5),
            Job("test.doomed", doomed, max_retries=1, min_backoff_s=0.1),
        ],
        periodic=lambda ctx: [Periodic("test.tick", TICK_S, periodic or tick)],
    )


# --- helpers -------------------------------------------------------------------------------------


async def query(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    assert settings.database_url
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        return await (await conn.execute(sql, params)).fetchall()


async def logged(settings: Settings, what: str) -> list[tuple[Any, ...]]:
    return await query(settings, "SELECT what, at FROM job_log WHERE what = %s ORDER BY n", what)


# --- jobs ----------------------------------------------------------------------------------------


async def test_an_enqueued_job_runs_and_its_work_is_committed(settings: Settings) -> None:
    async with running(settings, [service()]) as ctx:
        await ctx.jobs.enqueue("test.record", {"what": "hello"})
        await eventually(lambda: logged(settings, "hello"))
        # Acked: the message is gone from the queue.
        await eventually(
            lambda: query(settings, "SELECT 1 WHERE NOT EXISTS (TABLE dramatiq.queue)")
        )


async def test_a_delayed_job_does_not_run_before_its_delay(settings: Settings) -> None:
    async with running(settings, [service()]) as ctx:
        [(before,)] = await query(settings, "SELECT clock_timestamp()")
        await ctx.jobs.enqueue("test.record", {"what": "later"}, delay_s=2.0)
        [(_, ran_at)] = await eventually(lambda: logged(settings, "later"))
        assert (ran_at - before).total_seconds() >= 2.0


async def test_a_failing_job_is_retried_until_it_succeeds(settings: Settings) -> None:
    async with running(settings, [service()]) as ctx:
        await ctx.jobs.enqueue("test.flaky", {"failures": 2})
        await eventually(lambda: logged(settings, "flaky done"))
        assert len(await logged(settings, "flaky attempt")) == 3


async def test_a_job_out_of_retries_stays_in_the_queue_as_rejected(settings: Settings) -> None:
    async with running(settings, [service()]) as ctx:
        await ctx.jobs.enqueue("test.doomed", {})
        rejected = "SELECT message->>'actor_name' FROM dramatiq.queue WHERE state = 'rejected'"
        assert await eventually(lambda: query(settings, rejected)) == [("test.doomed",)]
        assert len(await logged(settings, "doomed attempt")) == 2  # the run and one retry
        # As docs/operations.md says: queued again by hand, it runs once more.
        await query(
            settings, "UPDATE dramatiq.queue SET state = 'queued', available_at = now() RETURNING 1"
        )
        await eventually(lambda: _at_least(logged(settings, "doomed attempt"), 3))
        assert await eventually(lambda: query(settings, rejected)) == [("test.doomed",)]


async def test_the_api_role_only_enqueues_and_a_worker_runs_the_jobs_later(
    settings: Settings,
) -> None:
    async with running(settings, [service()], role="api") as api:
        await api.jobs.enqueue("test.record", {"what": "kept"})
        await api.jobs.enqueue("test.record", {"what": "kept, delayed"}, delay_s=0.5)
        await asyncio.sleep(2 * TICK_S + 1)
        assert await logged(settings, "kept") == []
        assert await logged(settings, "kept, delayed") == []
        assert await logged(settings, "tick a") == []  # no scheduler either
    states = await query(settings, "SELECT state::text FROM dramatiq.queue")
    assert states == [("queued",), ("queued",)]
    # No process consumes now; a worker started afterwards finds both jobs in PostgreSQL.
    async with running(settings, [service()], role="worker"):
        await eventually(lambda: logged(settings, "kept"))
        await eventually(lambda: logged(settings, "kept, delayed"))
        await eventually(lambda: logged(settings, "tick a"))


async def test_a_job_enqueued_in_a_transaction_exists_only_if_it_commits(
    settings: Settings,
) -> None:
    async with running(settings, [service()], role="api") as ctx:
        async with ctx.pool.connection() as conn:
            await ctx.jobs.enqueue("test.record", {"what": "rolled back"}, conn=conn)
            await conn.rollback()
            await ctx.jobs.enqueue("test.record", {"what": "committed"}, conn=conn)
        rows = await query(settings, "SELECT message->'args'->0->>'what' FROM dramatiq.queue")
        assert rows == [("committed",)]


async def test_bad_enqueues_are_refused_before_anything_is_stored(settings: Settings) -> None:
    async with running(settings, [service()], role="api") as ctx:
        with pytest.raises(LookupError, match=r"no job named 'test\.nope'"):
            await ctx.jobs.enqueue("test.nope", {})
        with pytest.raises(TypeError):
            await ctx.jobs.enqueue("test.record", {"what": object()})
        with pytest.raises(ValueError, match="delay_s"):
            await ctx.jobs.enqueue("test.record", {"what": "x"}, delay_s=-1)
    assert await query(settings, "TABLE dramatiq.queue") == []


async def test_two_jobs_with_one_name_stop_the_start(settings: Settings) -> None:
    twice = Service(name="twice", jobs=lambda ctx: [Job("test.record", record)])
    with pytest.raises(ConfigError, match=r"two jobs are named 'test\.record'"):
        async with running(settings, [service(), twice], role="api"):
            pass


def test_the_migration_creates_the_schema_the_broker_library_expects(servers: Servers) -> None:
    ours = new_database(servers.pg_url)
    migrate(ours)
    theirs = new_database(servers.pg_url)
    with psycopg.connect(theirs, autocommit=True) as conn:
        conn.execute(dramatiq_postgres.generate_init_sql().encode())
    shape = [
        "SELECT table_name, column_name, ordinal_position, data_type, udt_schema, udt_name,"
        " is_nullable, column_default, is_identity FROM information_schema.columns"
        " WHERE table_schema = 'dramatiq' ORDER BY 1, 3",
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'dramatiq' ORDER BY 1",
        "SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
        " JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'dramatiq'"
        " ORDER BY 1, e.enumsortorder",
    ]
    for sql in shape:
        with psycopg.connect(ours) as a, psycopg.connect(theirs) as b:
            assert a.execute(sql).fetchall() == b.execute(sql).fetchall(), sql


# --- periodic jobs -------------------------------------------------------------------------------


async def test_one_process_fires_a_periodic_job_and_another_takes_over(settings: Settings) -> None:
    a, b = contextlib.AsyncExitStack(), contextlib.AsyncExitStack()
    async with a, b:
        await a.enter_async_context(running(settings, [service("a")], role="worker"))
        await b.enter_async_context(running(settings, [service("b")], role="worker"))

        async def ticks() -> list[tuple[Any, ...]]:
            rows = await query(settings, "SELECT what, at FROM job_log ORDER BY n")
            return rows if len(rows) >= 5 else []

        rows = await eventually(ticks)
        assert len({what for what, _ in rows}) == 1, rows  # one holder fires, the other waits
        gaps = [(y - x).total_seconds() for (_, x), (_, y) in itertools.pairwise(rows)]
        assert min(gaps) >= 0.8 * TICK_S, gaps  # never twice in one interval

        holder = rows[0][0].removeprefix("tick ")
        other = "b" if holder == "a" else "a"
        await (a if holder == "a" else b).aclose()
        await eventually(lambda: logged(settings, f"tick {other}"))


async def test_a_failing_periodic_run_does_not_stop_the_schedule(settings: Settings) -> None:
    async def failing(ctx: Context) -> None:
        await _log(ctx, "failing tick")
        raise RuntimeError("periodic failure")

    async with running(settings, [service(periodic=failing)], role="worker"):
        # Runs keep coming after failures.
        await eventually(lambda: _at_least(logged(settings, "failing tick"), 3))


async def _at_least(rows: Awaitable[list[Any]], n: int) -> list[Any]:
    found = await rows
    return found if len(found) >= n else []
