"""Python SDK benchmark: ``devflow_sdk.Client`` against posthog-python, in the same run.

One run starts a throwaway platform (embedded PostgreSQL and NATS, the ingest API and writer as
separate processes, see ``bench/_platform.py``) and, in every repetition, measures both SDKs
pointed at it, in alternating order:

* **call cost**: the caller-thread cost of one ``capture()``, each call timed on its own with
  ``perf_counter_ns`` while the SDK's sender delivers the previous events; the median, in µs;
* **enqueue rate**: how many events a single thread enqueues per second in a tight loop (the
  sender running meanwhile; queues sized so that nothing is dropped);
* **delivery rate**: events per second from the first ``capture()`` until the last of them is
  stored, counted in PostgreSQL; for information, also ours with a ``spool_dir`` (every event
  written and fsynced to disk before it is sent), which posthog-python has no equivalent of.

Before each phase the writer is given time to store what the previous phase sent, so that no
SDK pays for the other's backlog.

Both SDKs run with their default batching and compression, with ``max_queue_size`` raised so
that neither drops events and a 0.5 s flush interval. Machines are small and noisy, so every
figure is the median of the repetitions. The script prints a table with the ratios and exits 1
when ours is worse than posthog-python on any figure. Run it with
``.venv/bin/python bench/sdk.py`` (``--help`` for the sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import devflow_sdk
import posthog
import psycopg

# Run as a script (`python bench/sdk.py`): make the repository importable as the root.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._platform import TOPOLOGIES, Platform  # noqa: E402 - needs the path set above

if TYPE_CHECKING:
    from collections.abc import Callable

TARGET_CALL_US = 5.0
DELIVERY_TIMEOUT_S = 300.0
PROPERTIES = {
    "$current_url": "https://shop.example.com/checkout?step=2",
    "plan": "pro",
    "seats": 12,
    "trial": False,
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
}


class Sdk(Protocol):
    """What the benchmark does with a client, whichever SDK it is."""

    def capture(self, event: str, distinct_id: str) -> None: ...
    def flush(self) -> None: ...
    def shutdown(self) -> None: ...


class Ours:
    name = "devflow_sdk"
    spool = False

    def __init__(self, url: str, token: str, queue: int) -> None:
        self._dir = tempfile.mkdtemp(prefix="devflow-bench-spool-") if self.spool else None
        self._c = devflow_sdk.Client(
            token,
            host=url,
            max_queue_size=queue,
            flush_interval=0.5,
            shutdown_timeout=120,
            spool_dir=self._dir,
        )

    def capture(self, event: str, distinct_id: str) -> None:
        self._c.capture(event, distinct_id, PROPERTIES)

    def flush(self) -> None:
        if not self._c.flush(DELIVERY_TIMEOUT_S):
            raise RuntimeError(f"devflow_sdk flush timed out: {self._c.stats}")
        if self._c.stats.dropped or self._c.stats.rejected:
            raise RuntimeError(f"devflow_sdk lost events: {self._c.stats}")

    def shutdown(self) -> None:
        self._c.shutdown()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


class OursSpooled(Ours):
    """With ``spool_dir`` (fsync on): every event goes through the disk before it is sent."""

    spool = True


class PostHog:
    name = "posthog"

    def __init__(self, url: str, token: str, queue: int) -> None:
        self._c = posthog.Posthog(token, host=url, max_queue_size=queue, flush_interval=0.5)

    def capture(self, event: str, distinct_id: str) -> None:
        self._c.capture(event, distinct_id=distinct_id, properties=PROPERTIES)

    def flush(self) -> None:
        self._c.flush()

    def shutdown(self) -> None:
        self._c.shutdown()


SDKS: dict[str, Callable[[str, str, int], Sdk]] = {
    "ours": Ours,
    "posthog": PostHog,
    "spooled": OursSpooled,
}


@dataclass(frozen=True)
class Options:
    reps: int
    call_events: int
    enqueue_events: int
    delivery_events: int
    topology: str
    out_dir: Path
    keep: bool


def count(plat: Platform, event: str) -> int:
    with psycopg.connect(plat.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM events WHERE project_id = %s AND event = %s",
            (plat.project_id, event),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_stored(plat: Platform, event: str, n: int, deadline: float) -> None:
    while (stored := count(plat, event)) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {stored} of {n} {event!r} events stored in time")
        time.sleep(0.02)


def call_cost_us(plat: Platform, which: str, n: int) -> float:
    sdk = SDKS[which](plat.url, plat.token, max(n * 2, 10_000))
    try:
        for _ in range(min(n, 2_000)):  # warm-up: connections, caches, first batches
            sdk.capture("warmup", "bench")
        clock = time.perf_counter_ns
        samples = []
        for i in range(n):
            distinct_id = f"user-{i % 500}"
            started = clock()
            sdk.capture("call_cost", distinct_id)
            samples.append(clock() - started)
        sdk.flush()
    finally:
        sdk.shutdown()
    return statistics.median(samples) / 1000


def enqueue_rate(plat: Platform, which: str, n: int) -> float:
    sdk = SDKS[which](plat.url, plat.token, n + 10_000)
    try:
        started = time.perf_counter()
        for i in range(n):
            sdk.capture("enqueue", f"user-{i % 500}")
        elapsed = time.perf_counter() - started
        sdk.flush()
    finally:
        sdk.shutdown()
    return n / elapsed


def settle(plat: Platform) -> None:
    """Let the writer store the previous phase's events, so no phase pays for another's."""
    if not plat.wait_drained(DELIVERY_TIMEOUT_S):
        raise RuntimeError("the writer did not catch up with the previous phase")


def delivery_rate(plat: Platform, which: str, n: int) -> float:
    event = f"delivery-{which}-{uuid.uuid4().hex[:8]}"
    sdk = SDKS[which](plat.url, plat.token, n + 10_000)
    try:
        started = time.perf_counter()
        for i in range(n):
            sdk.capture(event, f"user-{i % 500}")
        sdk.flush()
        wait_stored(plat, event, n, time.monotonic() + DELIVERY_TIMEOUT_S)
        elapsed = time.perf_counter() - started
    finally:
        sdk.shutdown()
    if (stored := count(plat, event)) != n:
        raise RuntimeError(f"{which}: {stored} events stored, expected {n}")
    return n / elapsed


def repetition(plat: Platform, opts: Options, index: int) -> dict[str, float]:
    order = ["ours", "posthog"] if index % 2 == 0 else ["posthog", "ours"]
    out: dict[str, float] = {}
    for which in order:
        settle(plat)
        out[f"{which}_call_us"] = call_cost_us(plat, which, opts.call_events)
        settle(plat)
        out[f"{which}_enqueue_s"] = enqueue_rate(plat, which, opts.enqueue_events)
        settle(plat)
        out[f"{which}_delivery_s"] = delivery_rate(plat, which, opts.delivery_events)
        print(
            f"  rep {index + 1} {which:>7}: call {out[f'{which}_call_us']:.2f} us, "
            f"enqueue {out[f'{which}_enqueue_s']:,.0f}/s, "
            f"delivery {out[f'{which}_delivery_s']:,.0f}/s",
            flush=True,
        )
    settle(plat)
    out["spooled_delivery_s"] = delivery_rate(plat, "spooled", opts.delivery_events)
    print(f"  rep {index + 1} spooled: delivery {out['spooled_delivery_s']:,.0f}/s", flush=True)
    return out


# (label, key, unit, True when lower is better)
ROWS = [
    ("capture() caller-thread cost, median", "call_us", "us", True),
    ("enqueue rate, one thread", "enqueue_s", "events/s", False),
    ("delivery rate, capture to stored", "delivery_s", "events/s", False),
]


def summarise(reps: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in reps) for key in reps[0]}


def verdicts(summary: dict[str, float]) -> list[tuple[str, float, float, float, bool]]:
    """Per figure: label, ours, posthog's, how many times better ours is, whether it is."""
    out = []
    for label, key, _, lower_better in ROWS:
        ours, theirs = summary[f"ours_{key}"], summary[f"posthog_{key}"]
        better = theirs / ours if lower_better else ours / theirs
        out.append((label, ours, theirs, better, better >= 1.0))
    return out


def print_table(summary: dict[str, float], reps: int, opts: Options) -> bool:
    print(
        f"\nPython SDK benchmark: {reps} repetition(s), {os.cpu_count()} cores, topology "
        f"{opts.topology!r}; devflow_sdk {devflow_sdk.__version__}, posthog {posthog.VERSION}"
    )
    width = max(len(label) for label, *_ in ROWS)
    print(f"{'figure':<{width}}  {'devflow_sdk':>12}  {'posthog':>12}  {'ours is':>9}  unit")
    ok = True
    for (label, ours, theirs, better, fine), (_, _, unit, _) in zip(
        verdicts(summary), ROWS, strict=True
    ):
        fmt = "{:,.2f}" if unit == "us" else "{:,.0f}"
        print(
            f"{label:<{width}}  {fmt.format(ours):>12}  {fmt.format(theirs):>12}  "
            f"{better:>8.1f}x  {unit}{'' if fine else '   <- slower than posthog'}"
        )
        ok = ok and fine
    print(
        f"(for information) delivery rate with spool_dir, fsync on: "
        f"{summary['spooled_delivery_s']:,.0f} events/s"
    )
    call = summary["ours_call_us"]
    verdict = "met" if call < TARGET_CALL_US else "NOT met"
    print(f"target: capture() under {TARGET_CALL_US:.0f} us on the caller's thread: {verdict}")
    print("verdict:", "faster than posthog-python on every figure" if ok else "SLOWER somewhere")
    return ok


def write_json(summary: dict[str, float], reps: list[dict[str, float]], opts: Options) -> Path:
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = opts.out_dir / f"sdk-{stamp}.json"
    document = {
        "benchmark": "sdk",
        "at": stamp,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {"devflow_sdk": devflow_sdk.__version__, "posthog": posthog.VERSION},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        "median": summary,
        "ours_is_better_by": {
            key: better
            for (_, _, _, better, _), (_, key, _, _) in zip(verdicts(summary), ROWS, strict=True)
        },
        "repetitions": reps,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3, help="measured repetitions (default 3)")
    p.add_argument("--call-events", type=int, default=20_000, help="timed capture() calls")
    p.add_argument("--enqueue-events", type=int, default=100_000, help="events per enqueue run")
    p.add_argument("--delivery-events", type=int, default=50_000, help="events per delivery run")
    p.add_argument("--topology", choices=sorted(TOPOLOGIES), default="split")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    a = p.parse_args(argv)
    if min(a.reps, a.call_events, a.enqueue_events, a.delivery_events) < 1:
        p.error("every count must be positive")
    return Options(
        reps=a.reps,
        call_events=a.call_events,
        enqueue_events=a.enqueue_events,
        delivery_events=a.delivery_events,
        topology=a.topology,
        out_dir=a.out,
        keep=a.keep,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.monotonic()
    print(f"starting the platform (topology {opts.topology!r}) ...", flush=True)
    with Platform(topology=opts.topology, services=("ingest",), keep=opts.keep) as plat:
        reps = [repetition(plat, opts, i) for i in range(opts.reps)]
    summary = summarise(reps)
    ok = print_table(summary, len(reps), opts)
    path = write_json(summary, reps, opts)
    print(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"total time {time.monotonic() - started:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
