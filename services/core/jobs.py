"""Background jobs: dramatiq actors on the PostgreSQL broker, and periodic jobs run by one process.

A :class:`Job` is a dramatiq actor owned by a service. ``ctx.jobs.enqueue`` inserts its message
into the broker's queue table (``dramatiq.queue``, created by migration 0004) through the process's
own pool, so the job is durable once that transaction commits, which may be the caller's own. In
roles ``all`` and ``worker`` a dramatiq :class:`~dramatiq.Worker` (``dramatiq-postgres``: claims
with ``FOR UPDATE SKIP LOCKED``, wakes up on ``LISTEN/NOTIFY``) hands each message from its threads
to the service's event loop, where the job's coroutine runs with the same pool and bus as the rest
of the service. A job that raises is retried with exponential backoff; when its retries are used
up, its row stays in the queue as ``rejected`` (purged after 30 days).

A :class:`Periodic` runs every ``interval_s`` seconds in one process only. Each has a PostgreSQL
advisory lock, taken on a connection of the scheduler's own; the holder claims every run by moving
``periodic_jobs.fired_at`` forward, so the schedule survives restarts and changes of holder, and
the others try to take the lock every few seconds in case the holder goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq
import psycopg
from dramatiq.common import current_millis, dq_name
from dramatiq.middleware import Retries
from dramatiq_postgres import PostgresBroker  # type: ignore[import-untyped]
from prometheus_client import Counter, Histogram

from services.core.db import first_line
from services.core.errors import ConfigError
from services.core.metrics import REGISTRY
from services.core.repo import jobs as repo
from services.core.repo.platform import ping

if TYPE_CHECKING:
    import threading
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from concurrent.futures import Future

    from services.core.db import Pool

log = logging.getLogger("devflow.jobs")

# The service's ``services.core.service.Context``. That module stands above this one (its
# Context holds a ``Jobs``), and jobs only hand the context on to ``fn``, so it stays opaque here.
JobContext = Any

# How long a stopping process lets running jobs and periodic runs finish before cancelling them
# (a cancelled job is retried later, by whichever worker claims it).
STOP_GRACE_S = 20.0
# How often a process that does not hold a periodic job's lock tries to take it.
LOCK_RETRY_S = 5.0
# Any fixed number: it only has to be the same in every process (the second key is the job name).
_LOCK_NAMESPACE = 0x0DEF_10B5
_QUEUE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9._-]*$")

JOB_RUNS = Counter(
    "devflow_job_runs_total",
    "Background job runs, by outcome",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "devflow_job_seconds", "Background job run time", ["job"], registry=REGISTRY
)
JOBS_ENQUEUED = Counter(
    "devflow_jobs_enqueued_total", "Background jobs enqueued", ["job"], registry=REGISTRY
)
PERIODIC_RUNS = Counter(
    "devflow_periodic_runs_total",
    "Periodic job runs fired by this process, by outcome",
    ["periodic", "outcome"],
    registry=REGISTRY,
)


@dataclass(frozen=True)
class Job:
    """A dramatiq actor owned by a service. ``fn`` runs on the service's event loop.

    ``fn`` must not block the loop: CPU-heavy work belongs in ``asyncio.to_thread``. Retry ``n``
    waits about ``min_backoff_s * 2**n`` seconds (with jitter), at most ``max_backoff_s``.
    """

    name: str
    fn: Callable[[JobContext, dict[str, Any]], Awaitable[None]]
    max_retries: int = 10
    queue: str = "default"
    min_backoff_s: float = 15.0
    max_backoff_s: float = 3600.0


@dataclass(frozen=True)
class Periodic:
    """Runs every ``interval_s`` seconds in the process holding its lock; never overlaps itself.

    A run that raises is logged and counted, and the next one comes at the next interval. Long work
    should enqueue a :class:`Job` instead, which gets retries and any worker.
    """

    name: str
    interval_s: float
    fn: Callable[[JobContext], Awaitable[None]]


class Jobs:
    """``ctx.jobs``: enqueues jobs from any process; runs them in ``all`` and ``worker`` ones."""

    def __init__(self, pool: Pool, database_url: str) -> None:
        self._pool = pool
        self._database_url = database_url
        self._jobs: dict[str, Job] = {}
        self._broker: Any = None  # PostgresBroker; dramatiq-postgres has no type hints
        self._worker: dramatiq.Worker | None = None
        self._scheduler: _Scheduler | None = None
        self._running: set[Future[None]] = (
            set()
        )  # touched by worker threads too; set ops are atomic

    def declare(self, jobs: Iterable[Job]) -> None:
        """Make jobs known to :meth:`enqueue` (and to the worker, once started)."""
        for job in jobs:
            _check(job)
            if job.name in self._jobs:
                raise ConfigError(f"two jobs are named {job.name!r}")
            self._jobs[job.name] = job

    async def enqueue(
        self,
        name: str,
        payload: dict[str, Any],
        *,
        delay_s: float = 0.0,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> None:
        """Queue a run of job ``name`` with ``payload`` (JSON), to start no sooner than ``delay_s``.

        Without ``conn`` the job is committed when this returns. With ``conn`` it is part of that
        connection's transaction: it exists if, and when, the caller commits.
        """
        job = self._jobs.get(name)
        if job is None:
            raise LookupError(f"no job named {name!r}; known: {', '.join(sorted(self._jobs))}")
        if not (math.isfinite(delay_s) and delay_s >= 0):
            raise ValueError(f"delay_s must be a finite number >= 0, not {delay_s!r}")
        options: dict[str, Any] = {}
        queue = job.queue
        if delay_s > 0:
            # Where dramatiq's own enqueue puts delayed messages: the worker moves them to the
            # job's queue once due (dramatiq-postgres hands them out only after available_at).
            queue = dq_name(queue)
            options["eta"] = current_millis() + round(delay_s * 1000)
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=queue, actor_name=name, args=(payload,), kwargs={}, options=options
        )
        enqueue = functools.partial(
            repo.enqueue,
            queue=queue,
            message_id=message.message_id,
            message=message.encode().decode(),
            delay_s=float(delay_s),
        )
        if conn is not None:
            await enqueue(conn)
        else:
            async with self._pool.connection() as own:
                await enqueue(own)
        JOBS_ENQUEUED.labels(name).inc()

    async def start(self, ctx: JobContext, periodics: Sequence[Periodic], *, threads: int) -> None:
        """Run the declared jobs on a dramatiq worker of ``threads`` threads, and the periodics."""
        names = [p.name for p in periodics]
        for p in periodics:
            if not (math.isfinite(p.interval_s) and p.interval_s > 0):
                raise ConfigError(f"periodic job {p.name!r}: interval_s must be > 0")
            if names.count(p.name) > 1:
                raise ConfigError(f"two periodic jobs are named {p.name!r}")
        loop = asyncio.get_running_loop()
        try:
            if self._jobs:
                self._broker = PostgresBroker(
                    url=self._database_url, results=False, middleware=[Retries()]
                )
                for job in self._jobs.values():
                    dramatiq.Actor(
                        self._actor_fn(ctx, job, loop),
                        broker=self._broker,
                        actor_name=job.name,
                        queue_name=job.queue,
                        priority=0,
                        options={
                            "max_retries": job.max_retries,
                            "min_backoff": round(job.min_backoff_s * 1000),
                            "max_backoff": round(job.max_backoff_s * 1000),
                        },
                    )
                self._worker = dramatiq.Worker(self._broker, worker_threads=threads)
                self._worker.start()
            if periodics:
                self._scheduler = _Scheduler(ctx, periodics, self._database_url)
                self._scheduler.start()
        except BaseException:
            await self.stop()
            raise
        log.info(
            "background jobs started",
            extra={"jobs": sorted(self._jobs), "periodic": names, "threads": threads},
        )

    async def stop(self) -> None:
        """Stop the scheduler and the worker (running jobs get ``STOP_GRACE_S`` to finish), then
        close the broker. Idempotent; call it while the pool and bus are still open."""
        if self._scheduler is not None:
            scheduler, self._scheduler = self._scheduler, None
            await scheduler.stop()
        if self._worker is not None:
            worker, self._worker = self._worker, None
            await asyncio.to_thread(worker.stop, round(STOP_GRACE_S * 1000))
            for future in list(self._running):
                future.cancel()  # its worker thread fails the message, which is retried later
            await asyncio.to_thread(_join, worker.workers, 5.0)
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await asyncio.to_thread(_close_broker, broker)

    def _actor_fn(
        self, ctx: JobContext, job: Job, loop: asyncio.AbstractEventLoop
    ) -> Callable[[dict[str, Any]], None]:
        async def call(payload: dict[str, Any]) -> None:
            """Run the job's coroutine with its context."""
            await job.fn(ctx, payload)

        def run(payload: dict[str, Any]) -> None:
            """Dramatiq's actor body: run the job on the service's loop and wait for it."""
            # A worker thread: wait for the coroutine on the service's loop. An exception makes
            # dramatiq's Retries middleware enqueue the message again with a backoff.
            started = time.perf_counter()
            future = asyncio.run_coroutine_threadsafe(call(payload), loop)
            self._running.add(future)
            try:
                future.result()
            except BaseException:
                future.cancel()
                JOB_RUNS.labels(job.name, "failed").inc()
                raise
            finally:
                self._running.discard(future)
                JOB_SECONDS.labels(job.name).observe(time.perf_counter() - started)
            JOB_RUNS.labels(job.name, "ok").inc()

        run.__name__ = run.__qualname__ = job.name
        return run


def _check(job: Job) -> None:
    where = f"job {job.name!r}"
    if not job.name:
        raise ConfigError("a job needs a name")
    if not _QUEUE_NAME.match(job.queue) or job.queue.endswith((".DQ", ".XQ")):
        raise ConfigError(f"{where}: queue {job.queue!r} is not a valid dramatiq queue name")
    if job.max_retries < 0:
        raise ConfigError(f"{where}: max_retries must be >= 0")
    if not 0 < job.min_backoff_s <= job.max_backoff_s:
        raise ConfigError(f"{where}: backoffs must satisfy 0 < min_backoff_s <= max_backoff_s")


def _join(threads: Sequence[threading.Thread], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _close_broker(broker: Any) -> None:
    # Closing stops the LISTEN thread and the pool. The thread notices within its 2 s poll and
    # hands its connection back to the closed pool, which closes it quietly (returned to an open
    # pool, a closed connection is logged as broken and replaced).
    broker.close()
    notifier = broker.notifier
    if notifier is not None and notifier.is_alive():
        notifier.join(5.0)


class _Scheduler:
    """Fires periodic jobs whose advisory lock this process holds."""

    def __init__(self, ctx: JobContext, periodics: Sequence[Periodic], url: str) -> None:
        self._ctx = ctx
        self._periodics = list(periodics)
        self._url = url
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop that takes periodic jobs' locks and fires them."""
        self._task = asyncio.create_task(self._run(), name="periodic-scheduler")

    async def stop(self) -> None:
        """Ask the loop to stop; running periodic jobs get a grace period to finish."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, STOP_GRACE_S + 5)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._session()
            except Exception as exc:  # database down or restarting: connect again, never die
                log.warning("periodic scheduler lost its database connection: %s", first_line(exc))
            await self._pause(LOCK_RETRY_S)

    async def _session(self) -> None:
        """One connection's lifetime: the advisory locks it takes last as long as it does."""
        conn = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, application_name="devflow-scheduler"
        )
        held: dict[str, asyncio.Task[None]] = {}
        try:
            while not self._stopping.is_set():
                for p in self._periodics:
                    if p.name in held:
                        continue
                    if await repo.try_lock(conn, _LOCK_NAMESPACE, p.name):
                        log.info("this process runs periodic job %s", p.name)
                        held[p.name] = asyncio.create_task(
                            self._fire(conn, p), name=f"periodic:{p.name}"
                        )
                await self._pause(LOCK_RETRY_S)
                # Fails when the connection died, and with it the locks: stop firing at once.
                await ping(conn)
        finally:
            tasks = list(held.values())
            if tasks and self._stopping.is_set():
                await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await conn.close()

    async def _fire(self, conn: psycopg.AsyncConnection[Any], p: Periodic) -> None:
        interval_s = float(p.interval_s)
        while not self._stopping.is_set():
            try:
                if await repo.claim_run(conn, p.name, interval_s):
                    await self._run_once(p)
                    continue
                due = await repo.due_in(conn, p.name, interval_s)
                due_in = LOCK_RETRY_S if due is None else due
            except Exception as exc:  # a dead link ends the session at its next check
                log.warning("periodic job %s: %s", p.name, first_line(exc))
                due_in = LOCK_RETRY_S
            await self._pause(max(due_in, 0.01))

    async def _run_once(self, p: Periodic) -> None:
        started = time.perf_counter()
        try:
            await p.fn(self._ctx)
        except Exception:
            PERIODIC_RUNS.labels(p.name, "failed").inc()
            log.exception("periodic job %s failed; it runs again in %gs", p.name, p.interval_s)
            return
        PERIODIC_RUNS.labels(p.name, "ok").inc()
        log.debug("periodic job %s ran in %.3fs", p.name, time.perf_counter() - started)
