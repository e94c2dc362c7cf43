"""Feature-flag benchmark.

``engine``: microseconds to evaluate all 50 flags of ``bench/_flagset.py`` for one user, locally,
with our engine (``devflow_sdk.flags.FlagSet.evaluate_all``), posthog-python's local evaluation
and the GrowthBook SDK, measured in the same run. Every figure is the median of several
repetitions of many iterations each, and the engines alternate within every repetition so that
they share the machine's noise. The target is 3x the fastest peer; the exit code is 1 below it.

``server``: the flags service over HTTP, run as ``devflow run ingest flags`` processes (two API
processes, one per core, and a worker) on embedded PostgreSQL and NATS, with the same 50 flags:
``/flags?v=2`` throughput and p50/p99 latency at rising concurrency (closed loop), p50/p99 at a
fixed 2,000 requests/s (open loop: latency counts from when a request was due), the lag from an
acknowledged ``$identify`` to ``/flags`` seeing the property, and from a flag change to the SSE
stream on the other API process. Targets: p99 under 10 ms at 2,000/s, identify lag p99 under
200 ms, stream under 1 s; the exit code is 1 if one is missed.

Run with ``.venv/bin/python bench/flags.py [--only engine|server]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Run as a script (`python bench/flags.py`): make the repository importable as the root.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _flagset  # noqa: E402 - needs the path set just above

if TYPE_CHECKING:
    from collections.abc import Callable

TARGET_RATIO = 3.0
PARTS = ("engine", "server")


# --- engine --------------------------------------------------------------------------------------


def _ours() -> Callable[[], Any]:
    from devflow_sdk.flags import FlagSet

    flags = FlagSet.from_definitions(_flagset.definitions())
    person, groups, group_props = _flagset.PERSON, _flagset.GROUPS, _flagset.GROUP_PROPERTIES
    distinct_id = _flagset.DISTINCT_ID

    def run() -> Any:
        return flags.evaluate_all(
            distinct_id, person_properties=person, groups=groups, group_properties=group_props
        )

    return run


def _posthog_client() -> Any:
    from posthog import Client

    client = Client("phc_bench", send=False, sync_mode=True, enable_local_evaluation=False)
    client.feature_flags = _flagset.served_flags()
    client.cohorts = {str(_flagset.COHORT_ID): _flagset.COHORT}
    client.group_type_mapping = _flagset.GROUP_TYPE_MAPPING
    return client


def _posthog_core() -> Callable[[], Any]:
    """posthog's own loop over ``_compute_flag_locally`` and the payload lookup: its local
    evaluation without the event capture and caching around it."""
    client = _posthog_client()
    person, groups, group_props = _flagset.PERSON, _flagset.GROUPS, _flagset.GROUP_PROPERTIES
    distinct_id = _flagset.DISTINCT_ID

    def run() -> Any:
        flags: dict[str, Any] = {}
        payloads: dict[str, Any] = {}
        unresolved: dict[str, Any] = {}
        snapshot = client._local_evaluation_snapshot()
        client._evaluate_local_flag_set(
            snapshot, distinct_id, groups, person, group_props, False, None, None, unresolved,
            flags, payloads,
        )  # fmt: skip
        return flags, payloads

    return run


def _posthog_public() -> Callable[[], Any]:
    """``get_all_flags_and_payloads(only_evaluate_locally=True)``, the public API."""
    client = _posthog_client()
    person, groups, group_props = _flagset.PERSON, _flagset.GROUPS, _flagset.GROUP_PROPERTIES
    distinct_id = _flagset.DISTINCT_ID

    def run() -> Any:
        return client.get_all_flags_and_payloads(
            distinct_id,
            groups=groups,
            person_properties=person,
            group_properties=group_props,
            only_evaluate_locally=True,
        )

    return run


def _growthbook() -> Callable[[], Any]:
    """One GrowthBook instance (features parsed once) evaluating every feature for the user."""
    from growthbook import GrowthBook

    gb = GrowthBook(
        attributes=_flagset.growthbook_attributes(), features=_flagset.growthbook_features()
    )
    keys = list(_flagset.growthbook_features())

    def run() -> Any:
        return {key: gb.eval_feature(key) for key in keys}

    return run


ENGINES: dict[str, Callable[[], Callable[[], Any]]] = {
    "devflow FlagSet.evaluate_all": _ours,
    "posthog local (core loop)": _posthog_core,
    "posthog get_all_flags_and_payloads": _posthog_public,
    "growthbook eval_feature x50": _growthbook,
}
OURS = "devflow FlagSet.evaluate_all"
SHORT = dict(zip(ENGINES, ("devflow", "posthog-core", "posthog-api", "growthbook"), strict=True))


def check_equivalence() -> None:
    """Our results and posthog's agree on the benchmark's flags, and nothing is inconclusive."""
    ours = _ours()()
    theirs, payloads = _posthog_core()()
    for key, result in ours.items():
        if result.inconclusive or result.reason == "error":
            raise SystemExit(f"bench: flag {key} is {result.reason}: {result.description}")
        if theirs.get(key) != result.value or payloads.get(key) != result.payload:
            raise SystemExit(f"bench: {key}: ours {result.value!r}, posthog {theirs.get(key)!r}")


def _time(run: Callable[[], Any], iterations: int) -> float:
    """Microseconds per call over ``iterations`` calls."""
    started = time.perf_counter()
    for _ in range(iterations):
        run()
    return (time.perf_counter() - started) / iterations * 1e6


def _calibrate(run: Callable[[], Any], seconds: float) -> int:
    iterations = 1
    while True:
        elapsed = _time(run, iterations) * iterations / 1e6
        if elapsed >= seconds / 4:
            return max(1, int(iterations * seconds / elapsed))
        iterations *= 4


def run_engine(args: argparse.Namespace) -> int:
    check_equivalence()
    runs = {name: factory() for name, factory in ENGINES.items()}
    iterations = {name: _calibrate(run, args.seconds) for name, run in runs.items()}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    gc.collect()
    for rep in range(args.reps):
        for name, run in runs.items():
            samples[name].append(_time(run, iterations[name]))
        line = ", ".join(f"{SHORT[name]} {samples[name][-1]:.1f}" for name in runs)
        print(f"rep {rep + 1}/{args.reps}: {line} (us)", flush=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    peers = {name: us for name, us in medians.items() if name != OURS}
    fastest_peer = min(peers, key=peers.__getitem__)
    ratio = peers[fastest_peer] / medians[OURS]
    print(
        f"\nFlag engine: 50 flags for one user, {args.reps} repetitions of ~{args.seconds:.1f}s, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    width = max(len(name) for name in medians)
    header = f"{'median us':>10}  {'min us':>8}  {'max us':>8}  {'us/flag':>8}  vs ours"
    print(f"{'engine':<{width}}  {header}")
    for name, values in samples.items():
        print(
            f"{name:<{width}}  {medians[name]:>10.1f}  {min(values):>8.1f}  {max(values):>8.1f}  "
            f"{medians[name] / 50:>8.2f}  {medians[name] / medians[OURS]:>6.1f}x"
        )
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"ours vs fastest peer ({fastest_peer}): {ratio:.1f}x; target {TARGET_RATIO:.0f}x {verdict}"
    )
    return 0 if ratio >= TARGET_RATIO else 1


# --- server --------------------------------------------------------------------------------------


def run_server(args: argparse.Namespace) -> int:
    """The flags service over HTTP; see the module docstring."""
    import json

    from bench import _flags_server as fs
    from bench._platform import Platform

    with Platform(topology="api2", services=("ingest", "flags")) as plat:
        fs.seed(plat)
        cohort_ids = fs.create_cohorts(plat, _flagset.COHORT_BODIES)
        served = json.loads(
            json.dumps(_flagset.served_flags()).replace(
                f'"value": {_flagset.COHORT_ID}, "type": "cohort"',
                f'"value": {cohort_ids[0]}, "type": "cohort"',
            )
        )
        fs.create_flags(plat, served)
        print(
            f"\nFlags server: 50 flags, {len(plat.urls)} API processes + 1 worker, "
            f"{os.cpu_count()} cores",
            flush=True,
        )
        figures = fs.measure(
            plat,
            served,
            _flagset.PERSON,
            concurrencies=args.concurrency,
            seconds=args.server_seconds,
            rate=args.rate,
            lag_trials=args.lag_trials,
        )
    checks = {
        f"p99 at {args.rate:.0f}/s under 10 ms": figures.paced["p99_ms"] < 10
        and figures.paced["achieved_rps"] >= 0.98 * args.rate,
        "identify lag p99 under 200 ms": figures.identify["p99_ms"] < 200,
        "stream under 1 s": figures.stream["max_ms"] < 1000,
    }
    for name, ok in checks.items():
        print(f"  target {name}: {'met' if ok else 'NOT met'}")
    return 0 if all(checks.values()) else 1


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=PARTS, help="run one part (default: all)")
    p.add_argument("--reps", type=int, default=7, help="engine: repetitions (default 7)")
    p.add_argument("--seconds", type=float, default=0.5, help="engine: seconds per repetition")
    p.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 8, 32, 64],
        help="server: closed-loop connection counts (default 1 8 32 64)",
    )
    p.add_argument("--server-seconds", type=float, default=8.0, help="server: seconds per step")
    p.add_argument("--rate", type=float, default=2000.0, help="server: open-loop requests/s")
    p.add_argument("--lag-trials", type=int, default=200, help="server: identify-lag trials")
    a = p.parse_args(argv)
    if a.reps < 1 or a.seconds <= 0:
        p.error("--reps and --seconds must be positive")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    status = 0
    for part, run in (("engine", run_engine), ("server", run_server)):
        if args.only not in (None, part):
            continue
        status = max(status, run(args))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
