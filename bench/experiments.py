"""Experiment results benchmark: 1 million exposed people and 10 million events.

The platform runs as one ``devflow run ingest flags experiments`` process on embedded PostgreSQL
and NATS. A multivariate flag and an experiment (conversion, mean revenue and a count metric, as a
product team would set up) are created through the APIs. The events are generated inside
PostgreSQL (``INSERT … SELECT`` over ``generate_series``): 1,000,000 people each exposed once
over 14 days, and 9 more events each (page views, and purchases with an amount for 30 % of
control and 33 % of test), 10,000,000 events in all. Then
``GET /api/experiments/{id}/results?refresh=true`` is timed (it recomputes everything), and the
cached ``GET …/results`` beside it.

Target: results in under 2 s. Exit code 1 when the median recomputation is slower.

Run with ``.venv/bin/python bench/experiments.py [--people N] [--reps R]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._platform import Platform  # noqa: E402 - needs the path set just above

TARGET_S = 2.0
FLAG = "checkout-v2"
DAYS = 14
METRICS = [
    {
        "name": "purchase",
        "kind": "conversion",
        "event": "purchase",
        "window_hours": 72,
        "role": "primary",
    },
    {"name": "revenue", "kind": "mean", "event": "purchase", "property": "amount"},
    {"name": "page views", "kind": "count", "event": "$pageview", "role": "guardrail"},
]

# People i = 1..N: variant by parity, exposed at start + (i mod 14 days) seconds-spread, then nine
# events ten minutes apart; 30 % of control and 33 % of test buy (their last three events are
# purchases, with an amount a little higher in test).
BUYS = "(i / 2) %% 100 < CASE WHEN i %% 2 = 1 THEN 33 ELSE 30 END"
WHEN = "make_interval(secs => (i::bigint * 7919) %% (%(days)s * 86400)"
EXPOSURES = f"""
INSERT INTO events (project_id, uuid, event, distinct_id, person_id, "timestamp", properties)
SELECT %(project)s, gen_random_uuid(), '$feature_flag_called', 'user-' || i,
       md5('person-' || i)::uuid, %(start)s + {WHEN}),
       jsonb_build_object('$feature_flag', %(flag)s::text, '$feature_flag_response',
                          CASE WHEN i %% 2 = 0 THEN 'control' ELSE 'test' END)
FROM generate_series(1, %(people)s) AS i
"""
EVENTS = f"""
INSERT INTO events (project_id, uuid, event, distinct_id, person_id, "timestamp", properties)
SELECT %(project)s, gen_random_uuid(),
       CASE WHEN k >= 7 AND {BUYS} THEN 'purchase' ELSE '$pageview' END,
       'user-' || i, md5('person-' || i)::uuid,
       %(start)s + {WHEN} + k * 600),
       CASE WHEN k >= 7 AND {BUYS}
            THEN jsonb_build_object(
                'amount', 10 + (i * k) %% 90 + CASE WHEN i %% 2 = 1 THEN 3 ELSE 0 END)
            ELSE jsonb_build_object('$current_url', 'https://shop.example/p/' || (i %% 500))
       END
FROM generate_series(1, %(people)s) AS i, generate_series(1, 9) AS k
"""


def _partitions(conn: psycopg.Connection[tuple[object, ...]], start: datetime) -> None:
    mode = conn.execute("SELECT value FROM platform_info WHERE key = 'storage_mode'").fetchone()
    if mode and mode[0] == "timescaledb":
        return
    day = start.date()
    for _ in range(DAYS + 3):
        nxt = day + timedelta(days=1)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS events_p{day:%Y%m%d} PARTITION OF events "
            f"FOR VALUES FROM ('{day}') TO ('{nxt}')"
        )
        day = nxt


def seed(plat: Platform, people: int, start: datetime) -> None:
    began = time.monotonic()
    with psycopg.connect(plat.database_url, autocommit=True) as conn:
        _partitions(conn, start)
        params = {
            "project": plat.project_id,
            "start": start,
            "days": DAYS,
            "flag": FLAG,
            "people": people,
        }
        conn.execute(EXPOSURES, params)
        conn.execute(EVENTS, params)
        conn.execute("ANALYZE events")
        (count,) = conn.execute(
            "SELECT count(*) FROM events WHERE project_id = %s", (plat.project_id,)
        ).fetchone() or (0,)
    print(
        f"seeded {count:,} events for {people:,} people in {time.monotonic() - began:.0f} s",
        flush=True,
    )


def experiment(plat: Platform, start: datetime) -> int:
    headers = {"Authorization": f"Bearer {plat.secret_key}"}
    with httpx.Client(base_url=plat.url, headers=headers, timeout=60) as http:
        flag = {
            "key": FLAG,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "multivariate": {
                    "variants": [
                        {"key": "control", "rollout_percentage": 50},
                        {"key": "test", "rollout_percentage": 50},
                    ]
                },
            },
        }
        http.post("/api/feature_flags", json=flag).raise_for_status()
        body = {
            "name": "Checkout v2",
            "feature_flag_key": FLAG,
            "metrics": METRICS,
            "start_at": start.isoformat(),
            "analysis": {"engine": "bayesian"},
        }
        deadline = time.monotonic() + 30
        while True:  # the experiments service learns the flag from NATS
            r = http.post("/api/experiments", json=body)
            if r.status_code == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        r.raise_for_status()
        exp_id = int(r.json()["id"])
        http.post(f"/api/experiments/{exp_id}/launch").raise_for_status()
        return exp_id


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--people", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args(argv)
    start = (datetime.now(UTC) - timedelta(days=DAYS + 1)).replace(microsecond=0)
    with Platform(topology="all", services=("ingest", "flags", "experiments")) as plat:
        exp_id = experiment(plat, start)
        seed(plat, args.people, start)
        headers = {"Authorization": f"Bearer {plat.secret_key}"}
        url = f"{plat.url}/api/experiments/{exp_id}/results"
        times, cached = [], []
        body = {}
        with httpx.Client(headers=headers, timeout=600) as http:
            for rep in range(args.reps):
                began = time.perf_counter()
                r = http.get(url, params={"refresh": "true"})
                r.raise_for_status()
                times.append(time.perf_counter() - began)
                body = r.json()
                began = time.perf_counter()
                http.get(url).raise_for_status()
                cached.append(time.perf_counter() - began)
                print(
                    f"rep {rep + 1}: recompute {times[-1]:.2f} s, "
                    f"cached {cached[-1] * 1000:.1f} ms",
                    flush=True,
                )
    exposures = {v["key"]: v["exposures"] for v in body["metrics"][0]["variants"]}
    print(
        f"\nexposures {exposures}; primary: "
        f"{[(v['key'], v['value'], v['effect']) for v in body['metrics'][0]['variants']]}"
    )
    median = statistics.median(times)
    print(
        f"results for {args.people:,} people: median recompute {median:.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}); cached median "
        f"{statistics.median(cached) * 1000:.1f} ms; target {TARGET_S:.0f} s "
        f"{'met' if median < TARGET_S else 'NOT met'}"
    )
    return 0 if median < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
