"""Headless locust run against a platform it starts, with a pass/fail verdict (``make loadtest``).

Starts embedded PostgreSQL and NATS and the ingest API and writer in a temporary directory, runs
``loadtests/locustfile.py`` headless with the project token in ``DEVFLOW_LOADTEST_TOKEN``, waits
for the writer to commit what was acknowledged, and stops everything. The CSV and HTML reports go
to ``loadtests/reports/`` (git-ignored).

Exits non-zero when the failure ratio is above ``--max-failure-ratio`` or when the database holds
fewer events than the API acknowledged (an acknowledged event must never be lost).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# Run as a script (`python loadtests/run.py`): make the repository importable as the root, so the
# platform harness is shared with the benchmarks.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._platform import TOPOLOGIES, Platform  # noqa: E402 - needs the path set just above

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
REPORTS = Path(__file__).with_name("reports")
DRAIN_TIMEOUT_S = 120.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-u", "--users", type=int, default=30, help="concurrent users (default 30)")
    p.add_argument("-r", "--spawn-rate", type=float, default=10, help="users started per second")
    p.add_argument("-t", "--run-time", default="30s", help="locust run time (default 30s)")
    p.add_argument(
        "--pace", type=float, default=1.0, help="request-rate multiplier per user; 0 = flat out"
    )
    p.add_argument("--topology", choices=sorted(TOPOLOGIES), default="split")
    p.add_argument("--max-failure-ratio", type=float, default=0.01)
    p.add_argument("--out", type=Path, default=REPORTS, help="report directory")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    return p.parse_args(argv)


def _seconds(run_time: str) -> float:
    """Locust's ``-t`` syntax (``30s``, ``2m``, ``1h30m``) in seconds, for our own time limit."""
    total = 0.0
    for amount, unit in re.findall(r"(\d+)\s*([hms]?)", run_time):
        total += int(amount) * {"h": 3600, "m": 60, "s": 1, "": 1}[unit]
    return total


def run_locust(args: argparse.Namespace, plat: Platform, prefix: Path) -> int:
    locust = Path(sys.executable).with_name("locust")
    cmd = [
        str(locust),
        "-f", str(LOCUSTFILE),
        "--headless",
        "-u", str(args.users),
        "-r", str(args.spawn_rate),
        "-t", args.run_time,
        "--host", plat.url,
        "--csv", str(prefix),
        "--html", f"{prefix}.html",
        "--only-summary",
        "--stop-timeout", "5",
    ]  # fmt: skip
    env = {
        **os.environ,
        "DEVFLOW_LOADTEST_TOKEN": plat.token,
        "DEVFLOW_LOADTEST_PACE": str(args.pace),
        "DEVFLOW_LOADTEST_TALLY": f"{prefix}_tally.json",
    }
    print("$", " ".join(cmd), flush=True)
    # Bounded: locust stops itself after --run-time; the margin covers start-up and the report.
    limit_s = _seconds(args.run_time) + 120
    return subprocess.run(cmd, env=env, cwd=ROOT, timeout=limit_s, check=False).returncode


def read_tally(path: Path) -> tuple[int, int, int]:
    """(requests, failures, events acknowledged) as the locustfile counted them at the end."""
    try:
        tally = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"loadtest: no tally from locust ({exc})") from None
    return int(tally["requests"]), int(tally["failures"]), int(tally["events"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = args.out / f"capture-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    print(f"starting the platform (topology {args.topology!r}) ...", flush=True)
    with Platform(topology=args.topology, keep=args.keep) as plat:
        print(f"  API {plat.url}, processes {plat.pids()}", flush=True)
        code = run_locust(args, plat, prefix)
        locust_done = time.monotonic()
        drained = plat.wait_drained(DRAIN_TIMEOUT_S)
        lag_s = time.monotonic() - locust_done
        stored = plat.count_events()
    requests, failures, acknowledged = read_tally(Path(f"{prefix}_tally.json"))
    ratio = failures / requests if requests else 1.0
    print(
        f"\nrequests {requests}, failures {failures} ({ratio:.2%}), events acknowledged "
        f"{acknowledged}, stored {stored}; the writer committed the last of them {lag_s:.1f}s "
        f"after locust exited{'' if drained else ' (no: it was still behind)'}"
    )
    print(f"report: {prefix}.html and {prefix}_stats.csv")
    problems = []
    if code not in (0, 1):  # locust exits 1 when any request failed; the ratio decides that
        problems.append(f"locust exited with {code}")
    if not requests:
        problems.append("no requests were made")
    if ratio > args.max_failure_ratio:
        problems.append(f"failure ratio {ratio:.2%} is above {args.max_failure_ratio:.2%}")
    if not drained:
        problems.append(f"the writer did not catch up within {DRAIN_TIMEOUT_S:.0f}s of the end")
    elif stored < acknowledged:
        problems.append(f"{acknowledged - stored} acknowledged events are not in the database")
    elif stored > acknowledged and not failures:
        # With no failed request every stored event was acknowledged once: more is a duplicate.
        problems.append(f"{stored - acknowledged} events stored twice")
    for problem in problems:
        print(f"loadtest: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
