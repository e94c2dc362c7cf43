"""Ingest benchmark: end-to-end capture throughput against ceilings measured in the same run.

One run starts a throwaway platform (embedded PostgreSQL and NATS, the ingest API and writer as
separate processes) and, in every repetition, measures:

* the ceilings: a binary COPY of the repetition's rows straight into ``events`` (one session, and
  two in parallel to use both cores), and a raw, pipelined JetStream publish of the very messages
  the API would publish (100 events each, and one event each);
* end-to-end batches: ``POST /batch`` of 100 events, timed from the first request until the writer
  has committed the last row (JetStream acked the HTTP requests, the writer acked its commits);
* single events: ``POST /capture`` requests per second, each answered after its JetStream ack.

Every load is bounded in count and in time; a writer that cannot keep up is measured by the rows
it committed before the deadline, and the backlog it leaves is reported. Machines are small and
noisy, so every figure is the median of several repetitions and every ratio is taken between
figures of the same repetition. Results are printed as a table and written as JSON to
``bench/results/``. Run with ``make bench`` or ``.venv/bin/python bench/ingest.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import psycopg
import uvloop
from nats.js import api

# Run as a script (`python bench/ingest.py`): make the repository importable as the root.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _cpu, _http, _payloads  # noqa: E402 - needs the path set just above
from bench._platform import EVENTS_STREAM, TOPOLOGIES, WRITER_DURABLE, Platform  # noqa: E402

BATCH_SIZE = 100  # events per HTTP batch and per ceiling message
TARGET_EVENTS_S = 50_000
CEILING_STREAM = "BENCH_CEILING"
CEILING_SUBJECT = "bench.ceiling"
COMMIT_TIMEOUT_S = 120.0  # for the writer to finish the batch in hand when resetting
COMMIT_GRACE_S = 5.0  # how long after the load's time limit the writer may take to catch up
COPY_SESSIONS = 2  # the parallel COPY ceiling uses both cores
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Options:
    reps: int
    batch_events: int
    batch_concurrency: int
    batch_seconds: float
    single_requests: int
    single_concurrency: int
    single_seconds: float
    topology: str
    gzip: bool
    out_dir: Path
    keep: bool


class Bench:
    """Measurements against one running platform; connections are opened by :meth:`open`."""

    def __init__(self, plat: Platform, opts: Options) -> None:
        self.plat = plat
        self.opts = opts
        self.host = f"127.0.0.1:{plat.port}"

    async def open(self) -> None:
        self.nc = await nats.connect(self.plat.nats_url)
        self.js = self.nc.jetstream()
        # Same storage and de-duplication window as EVENTS, so the ceiling stores what ingest does.
        await self.js.add_stream(
            api.StreamConfig(
                name=CEILING_STREAM,
                subjects=[f"{CEILING_SUBJECT}.>"],
                storage=api.StorageType.FILE,
                duplicate_window=120.0,
                max_msg_size=-1,
            )
        )
        self.db = await psycopg.AsyncConnection.connect(self.plat.database_url, autocommit=True)

    async def close(self) -> None:
        await self.db.close()
        await self.nc.close()

    async def repetition(self, seed: int, scale: float = 1.0) -> dict[str, Any]:
        """One of each measurement; ``scale`` < 1 makes a shorter warm-up pass."""
        batch_events = _payloads.generate(int(self.opts.batch_events * scale), seed)
        single_events = _payloads.generate(int(self.opts.single_requests * scale), seed + 1)
        out: dict[str, Any] = {}
        await self.reset()
        out["copy_rows_s"] = await self.copy_ceiling(batch_events, sessions=1)
        await self.reset()
        out["copy_parallel_rows_s"] = await self.copy_ceiling(batch_events, sessions=COPY_SESSIONS)
        await self.reset()
        out["js_batch_events_s"] = await self.publish_ceiling(batch_events, BATCH_SIZE)
        out["js_single_msgs_s"] = await self.publish_ceiling(single_events, 1)
        await self.reset()
        out |= _prefixed("batch", await self.end_to_end(batch_events, batch=True, scale=scale))
        await self.reset()
        out |= _prefixed("single", await self.end_to_end(single_events, batch=False, scale=scale))
        ceiling = min(out["copy_parallel_rows_s"], out["js_batch_events_s"])
        out["batch_vs_copy"] = out["batch_events_s"] / out["copy_rows_s"]
        out["batch_vs_copy_parallel"] = out["batch_events_s"] / out["copy_parallel_rows_s"]
        out["batch_vs_js"] = out["batch_events_s"] / out["js_batch_events_s"]
        out["batch_vs_ceiling"] = out["batch_events_s"] / ceiling
        out["single_vs_js"] = out["single_requests_s"] / out["js_single_msgs_s"]
        return out

    async def reset(self) -> None:
        """Start each measurement from the same state: no backlog, empty tables and streams, and
        a checkpoint taken now rather than in the middle of the next measurement."""
        # A writer slower than the API leaves a backlog; drop it, then let the batch in hand end.
        await self.js.purge_stream(EVENTS_STREAM)
        if await self.wait_drained(time.perf_counter() + COMMIT_TIMEOUT_S) is None:
            raise BenchError(f"the writer did not finish its batch within {COMMIT_TIMEOUT_S:.0f}s")
        await self.db.execute("TRUNCATE events, events_hourly")
        await self.db.execute("CHECKPOINT")
        await self.js.purge_stream(CEILING_STREAM)

    async def copy_ceiling(self, events: list[_payloads.Event], sessions: int) -> float:
        """Rows per second of a binary COPY of ``events`` into ``events``, split over
        ``sessions`` concurrent connections, each committing once."""
        parts = [
            _payloads.copy_binary(self.plat.project_id, events[i::sessions])
            for i in range(sessions)
        ]
        conns = [
            await psycopg.AsyncConnection.connect(self.plat.database_url) for _ in range(sessions)
        ]

        async def copy(conn: psycopg.AsyncConnection[Any], data: bytes) -> None:
            async with conn.cursor().copy(_payloads.COPY_EVENTS) as stream:
                for at in range(0, len(data), COPY_CHUNK):
                    await stream.write(data[at : at + COPY_CHUNK])
            await conn.commit()

        try:
            started = time.perf_counter()
            await asyncio.gather(*(copy(c, d) for c, d in zip(conns, parts, strict=True)))
            elapsed = time.perf_counter() - started
        finally:
            for conn in conns:
                await conn.close()
        rows = await self.count_rows()
        if rows != len(events):
            raise BenchError(f"COPY stored {rows} of {len(events)} rows")
        return len(events) / elapsed

    async def publish_ceiling(self, events: list[_payloads.Event], per_message: int) -> float:
        """Events per second of pipelined JetStream publishes of the API's own messages."""
        messages = _payloads.bus_messages(self.plat.project_id, events, per_message)
        ids = [
            f"ceiling:{events[i].uuid}:{per_message}" for i in range(0, len(events), per_message)
        ]
        before = (await self.js.stream_info(CEILING_STREAM)).state.messages
        started = time.perf_counter()
        acks = [
            await self.js.publish_async(
                f"{CEILING_SUBJECT}.{self.plat.project_id}", payload, headers={"Nats-Msg-Id": id_}
            )
            for payload, id_ in zip(messages, ids, strict=True)
        ]
        await asyncio.gather(*acks)
        elapsed = time.perf_counter() - started
        stored = (await self.js.stream_info(CEILING_STREAM)).state.messages - before
        if stored != len(messages):
            raise BenchError(f"ceiling stream stored {stored} of {len(messages)} messages")
        return len(events) / elapsed

    async def end_to_end(
        self, events: list[_payloads.Event], *, batch: bool, scale: float = 1.0
    ) -> dict[str, Any]:
        """Send ``events`` over HTTP until done or the time limit, then wait (bounded) for the
        writer. The rate is rows committed over the time from the first request to the last
        commit, so a writer slower than the API shows, however fast the API acknowledges."""
        token, opts = self.plat.token, self.opts
        if batch:
            bodies = _payloads.batch_bodies(token, events, BATCH_SIZE)
            path, concurrency, limit_s = "/batch", opts.batch_concurrency, opts.batch_seconds
        else:
            bodies = _payloads.single_bodies(token, events)
            path, concurrency, limit_s = "/capture", opts.single_concurrency, opts.single_seconds
        requests = [
            _http.build_request(self.host, path, body, compress=opts.gzip) for body in bodies
        ]
        per_request = BATCH_SIZE if batch else 1
        limit_s *= scale
        cpu_before = _cpu.sample(self.plat.pids())
        result = await _http.drive(
            "127.0.0.1", self.plat.port, requests, concurrency=concurrency, time_limit_s=limit_s
        )
        drained_at = await self.wait_drained(result.started + limit_s + COMMIT_GRACE_S * scale)
        ended = drained_at or time.perf_counter()
        cpu_after = _cpu.sample(self.plat.pids())
        if result.failed:
            raise BenchError(
                f"{path}: {result.failed} failed requests, statuses {dict(result.statuses)}, "
                f"first errors {result.errors[:3]}"
            )
        accepted = result.ok * per_request
        rows = await self.count_rows()
        if drained_at is not None and rows != accepted:
            raise BenchError(f"{path}: {accepted} events acknowledged but {rows} stored")
        return {
            "requests_s": result.ok / result.elapsed_s,
            "accepted_events_s": accepted / result.elapsed_s,
            "events_s": rows / (ended - result.started),
            "commit_lag_s": ended - result.finished,
            "backlog_events": accepted - rows,
            "p50_ms": result.latency_ms(0.50),
            "p99_ms": result.latency_ms(0.99),
            "cores": _cpu.cores_used(cpu_before, cpu_after, ended - result.started),
        }

    async def wait_drained(self, deadline: float) -> float | None:
        """Poll the writer's durable consumer until every message is acked (the writer acks only
        after its transaction commits); return when that was first seen, or None at the
        deadline."""
        while time.perf_counter() < deadline:
            info = await self.js.consumer_info(EVENTS_STREAM, WRITER_DURABLE)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return time.perf_counter()
            await asyncio.sleep(0.01)
        return None

    async def count_rows(self) -> int:
        cur = await self.db.execute(
            "SELECT count(*) FROM events WHERE project_id = %s", (self.plat.project_id,)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


class BenchError(Exception):
    """A measurement went wrong (failed requests, lost rows): the figures would be meaningless."""


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": v for k, v in values.items()}


async def run(plat: Platform, opts: Options) -> list[dict[str, Any]]:
    bench = Bench(plat, opts)
    await bench.open()
    try:
        print("warm-up (discarded) ...", flush=True)
        await bench.repetition(seed=0, scale=0.2)
        reps = []
        for i in range(opts.reps):
            rep = await bench.repetition(seed=1000 * (i + 1))
            reps.append(rep)
            print(
                f"rep {i + 1}/{opts.reps}: batch {rep['batch_events_s']:,.0f} events/s "
                f"({rep['batch_vs_ceiling']:.0%} of ceiling), "
                f"single {rep['single_requests_s']:,.0f} req/s",
                flush=True,
            )
        await bench.reset()
        return reps
    finally:
        await bench.close()


# --- report --------------------------------------------------------------------------------------

ROWS = [
    ("Ceiling: binary COPY into events, 1 session", "copy_rows_s", "rows/s"),
    ("Ceiling: binary COPY into events, 2 sessions", "copy_parallel_rows_s", "rows/s"),
    ("Ceiling: JetStream publish, 100 events/msg", "js_batch_events_s", "events/s"),
    ("Ceiling: JetStream publish, 1 event/msg", "js_single_msgs_s", "msgs/s"),
    ("Batches of 100: end to end (committed)", "batch_events_s", "events/s"),
    ("Batches of 100: HTTP accepted (JS acked)", "batch_accepted_events_s", "events/s"),
    ("Batches of 100: latency p50", "batch_p50_ms", "ms"),
    ("Batches of 100: latency p99", "batch_p99_ms", "ms"),
    ("Batches of 100: commit lag after last ack", "batch_commit_lag_s", "s"),
    ("Batches of 100: backlog left uncommitted", "batch_backlog_events", "events"),
    ("Single events: requests (JS acked)", "single_requests_s", "req/s"),
    ("Single events: end to end (committed)", "single_events_s", "events/s"),
    ("Single events: latency p50", "single_p50_ms", "ms"),
    ("Single events: latency p99", "single_p99_ms", "ms"),
    ("Ratio: batches / COPY, 1 session", "batch_vs_copy", "x"),
    ("Ratio: batches / COPY, 2 sessions", "batch_vs_copy_parallel", "x"),
    ("Ratio: batches / JetStream ceiling", "batch_vs_js", "x"),
    ("Ratio: batches / ceiling (lower of COPY x2, JetStream)", "batch_vs_ceiling", "x"),
    ("Ratio: single req/s / JetStream 1-event", "single_vs_js", "x"),
]


def summarise(reps: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key in reps[0]:
        if key.endswith("_cores"):
            summary[key] = {
                name: statistics.median(r[key].get(name, 0.0) for r in reps)
                for name in reps[0][key]
            }
        else:
            values = [r[key] for r in reps]
            summary[key] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }
    return summary


def _fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}"
    if unit in ("ms", "s"):
        return f"{value:.1f}" if unit == "ms" else f"{value:.2f}"
    return f"{value:,.0f}"


def print_table(summary: dict[str, Any], opts: Options, reps: int) -> None:
    print(
        f"\nIngest benchmark: {reps} repetition(s), {os.cpu_count()} cores, "
        f"topology {opts.topology!r}, {'gzip' if opts.gzip else 'plain JSON'} bodies"
    )
    width = max(len(label) for label, _, _ in ROWS)
    print(f"{'measurement':<{width}}  {'median':>10}  {'min':>10}  {'max':>10}  unit")
    for label, key, unit in ROWS:
        s = summary[key]
        print(
            f"{label:<{width}}  {_fmt(s['median'], unit):>10}  {_fmt(s['min'], unit):>10}  "
            f"{_fmt(s['max'], unit):>10}  {unit}"
        )
    for phase in ("batch", "single"):
        cores = summary[f"{phase}_cores"]
        rate = summary[f"{phase}_events_s"]["median"]
        busy = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cores.items()))
        # CPU time per committed event: where an event's cost goes, independent of the wall clock.
        per_event = ", ".join(f"{k} {1e6 * v / rate:.0f}" for k, v in sorted(cores.items()))
        total = 1e6 * sum(cores.values()) / rate
        print(f"{phase}: cores busy (median) {busy}")
        print(f"{phase}: CPU us per event {per_event}; total {total:.0f}")
    median = summary["batch_events_s"]["median"]
    verdict = "met" if median >= TARGET_EVENTS_S else "NOT met"
    print(f"target {TARGET_EVENTS_S:,} events/s end to end with batches: {verdict}\n")


def write_json(summary: dict[str, Any], reps: list[dict[str, Any]], opts: Options) -> Path:
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = opts.out_dir / f"ingest-{stamp}.json"
    document = {
        "benchmark": "ingest",
        "at": stamp,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        "target_events_s": TARGET_EVENTS_S,
        "median": {k: v.get("median", v) for k, v in summary.items()},
        "summary": summary,
        "repetitions": reps,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5, help="measured repetitions (default 5)")
    p.add_argument("--batch-events", type=int, default=200_000, help="events per batch run")
    p.add_argument("--batch-concurrency", type=int, default=4, help="connections sending batches")
    p.add_argument("--batch-seconds", type=float, default=10.0, help="time limit of a batch run")
    p.add_argument("--single-requests", type=int, default=20_000, help="single-event requests")
    p.add_argument("--single-concurrency", type=int, default=16, help="connections for singles")
    p.add_argument("--single-seconds", type=float, default=5.0, help="time limit of a single run")
    p.add_argument("--topology", choices=sorted(TOPOLOGIES), default="split")
    p.add_argument("--gzip", action="store_true", help="send gzip-compressed bodies")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    a = p.parse_args(argv)
    if a.reps < 1 or a.batch_events < BATCH_SIZE or a.single_requests < 1:
        p.error("--reps, --batch-events and --single-requests must be positive")
    return Options(
        reps=a.reps,
        batch_events=a.batch_events,
        batch_concurrency=a.batch_concurrency,
        batch_seconds=a.batch_seconds,
        single_requests=a.single_requests,
        single_concurrency=a.single_concurrency,
        single_seconds=a.single_seconds,
        topology=a.topology,
        gzip=a.gzip,
        out_dir=a.out,
        keep=a.keep,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.monotonic()
    print(f"starting the platform (topology {opts.topology!r}) ...", flush=True)
    try:
        with Platform(topology=opts.topology, keep=opts.keep) as plat:
            print(f"  processes: {plat.pids()}", flush=True)
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                reps = runner.run(run(plat, opts))
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    summary = summarise(reps)
    print_table(summary, opts, len(reps))
    path = write_json(summary, reps, opts)
    print(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"total time {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
