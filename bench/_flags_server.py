"""The server half of ``bench/flags.py``: ``/flags?v=2`` throughput and latency, and the lag
from an acknowledged ``$identify`` to ``/flags`` seeing the new property.

The platform runs as real ``devflow run ingest flags`` processes: two API processes (one per
core; the load generator spreads its connections over both, as a load balancer would) and one
worker (the events writer that maintains the persons projection).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from bench._http import DriveResult, ProtocolError, _read_response, build_request, drive

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bench._platform import Platform

LAG_FLAG = "identify-lag-probe"


def _admin(plat: Platform) -> httpx.Client:
    headers = {"Authorization": f"Bearer {plat.secret_key}"}
    return httpx.Client(base_url=plat.urls[0], headers=headers, timeout=30)


def create_cohorts(plat: Platform, bodies: Sequence[dict[str, Any]]) -> list[int]:
    """Create dynamic cohorts (``{"name", "properties"}``); their ids in order."""
    with _admin(plat) as http:
        out = []
        for body in bodies:
            r = http.post(
                "/api/cohorts",
                json={"name": body["name"], "filters": {"properties": body["properties"]}},
            )
            r.raise_for_status()
            out.append(int(r.json()["id"]))
        return out


def create_flags(plat: Platform, flags: Sequence[dict[str, Any]]) -> None:
    with _admin(plat) as http:
        for flag in flags:
            r = http.post("/api/feature_flags", json=creatable(flag))
            if r.status_code != 201:
                raise RuntimeError(f"seeding flag {flag.get('key')}: {r.status_code} {r.text}")


def seed(plat: Platform) -> None:
    """Group types and the flag the identify-lag probe reads."""
    with _admin(plat) as http:
        for i, group_type in enumerate(("company", "team")):
            http.put(f"/api/group_types/{i}", json={"group_type": group_type}).raise_for_status()
        lag_flag = {
            "key": LAG_FLAG,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {
                                "key": "lag_marker",
                                "value": "set",
                                "operator": "exact",
                                "type": "person",
                            }
                        ],
                        "rollout_percentage": 100,
                    }
                ]
            },
        }
        http.post("/api/feature_flags", json=lag_flag).raise_for_status()


def flags_requests(plat: Platform, person: dict[str, Any], users: int = 5000) -> list[bytes]:
    """Distinct users with the same properties: evaluations that differ only by bucketing."""
    out = []
    for url in plat.urls:
        host = url.removeprefix("http://")
        for i in range(users):
            body = {
                "api_key": plat.token,
                "distinct_id": f"bench-user-{i}",
                "person_properties": person,
                "groups": {"company": f"company-{i % 50}"},
            }
            out.append(build_request(host, "/flags/?v=2", json.dumps(body).encode()))
    return out


async def _spread(
    plat: Platform, requests: Sequence[bytes], concurrency: int, seconds: float
) -> DriveResult:
    """Closed loop: ``concurrency`` connections split over the API processes."""
    per = max(1, concurrency // len(plat.urls))
    half = len(requests) // len(plat.urls)
    results = await asyncio.gather(
        *(
            drive(
                "127.0.0.1",
                int(url.rsplit(":", 1)[1]),
                list(requests[i * half : (i + 1) * half]) * 20,
                concurrency=per,
                time_limit_s=seconds,
            )
            for i, url in enumerate(plat.urls)
        )
    )
    merged = DriveResult(
        started=min(r.started for r in results), finished=max(r.finished for r in results)
    )
    for r in results:
        merged.ok += r.ok
        merged.failed += r.failed
        merged.statuses.update(r.statuses)
        merged.latencies_s.extend(r.latencies_s)
        merged.errors.extend(r.errors)
    return merged


@dataclass
class RateResult:
    target_rps: float
    sent: int = 0
    ok: int = 0
    latencies_s: list[float] = field(default_factory=list)
    # How late the client itself sent each request (its own loop busy): part of the latency
    # that is not the server's.
    late_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0

    def latency_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return (
            1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]
            if ordered
            else float("nan")
        )


async def fixed_rate(
    plat: Platform, requests: Sequence[bytes], rate: float, seconds: float, connections: int = 64
) -> RateResult:
    """Open loop: request i is due at ``start + i / rate``; latency counts from when it was due,
    so a server that falls behind is charged for the queueing (no coordinated omission)."""
    result = RateResult(target_rps=rate)
    total = int(rate * seconds)
    next_index = 0
    ports = [int(u.rsplit(":", 1)[1]) for u in plat.urls]
    half = len(requests) // len(ports)

    async def worker(slot: int) -> None:
        nonlocal next_index
        port_i = slot % len(ports)
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[port_i])
        while True:
            i = next_index
            if i >= total:
                break
            next_index += 1
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            request = requests[port_i * half + i % half]
            result.late_s.append(max(0.0, time.perf_counter() - due))
            try:
                writer.write(request)
                await writer.drain()
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ProtocolError):
                result.sent += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", ports[port_i])
                continue
            result.sent += 1
            result.latencies_s.append(time.perf_counter() - due)
            result.ok += status == 200
        writer.close()

    start = time.perf_counter() + 0.05
    await asyncio.gather(*(worker(s) for s in range(connections)))
    result.elapsed_s = time.perf_counter() - start
    return result


def identify_lag(plat: Platform, trials: int) -> list[float]:
    """Seconds from the capture of ``$identify`` being acknowledged to ``/flags`` on the other
    API process answering with the property applied, one fresh person per trial."""
    lags = []
    capture_url, flags_url = plat.urls[0], plat.urls[-1]
    with httpx.Client(timeout=10) as http:
        for i in range(trials):
            distinct_id = f"lag-{i}-{time.monotonic_ns()}"
            body = {"api_key": plat.token, "distinct_id": distinct_id}
            before = http.post(f"{flags_url}/flags/?v=2", json=body).json()
            if before["flags"][LAG_FLAG]["enabled"]:
                raise RuntimeError("the probe flag is on before the identify")
            event = {
                "api_key": plat.token,
                "event": "$identify",
                "distinct_id": distinct_id,
                "properties": {"$set": {"lag_marker": "set"}},
            }
            http.post(f"{capture_url}/capture/", json=event).raise_for_status()
            acked = time.perf_counter()
            deadline = acked + 10
            while time.perf_counter() < deadline:
                got = http.post(f"{flags_url}/flags/?v=2", json=body).json()
                if got["flags"][LAG_FLAG]["enabled"]:
                    lags.append(time.perf_counter() - acked)
                    break
            else:
                raise RuntimeError(f"identify {i} not visible to /flags after 10 s")
    return lags


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize_lags(lags: Sequence[float]) -> dict[str, float]:
    return {
        "trials": len(lags),
        "p50_ms": 1000 * statistics.median(lags),
        "p99_ms": 1000 * quantile(lags, 0.99),
        "max_ms": 1000 * max(lags),
    }


def sse_lag(plat: Platform, key: str, trials: int) -> list[float]:
    """Seconds from a PATCH being answered by one API process to the change arriving on a
    definitions stream held open on the other one."""
    import threading

    headers = {"Authorization": f"Bearer {plat.secret_key}"}
    arrivals: list[tuple[float, bytes]] = []
    ready = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=120)) as client,
            client.stream("GET", f"{plat.urls[-1]}/api/feature_flags/stream", headers=headers) as r,
        ):
            for line in r.iter_lines():
                if line.startswith("data:"):
                    arrivals.append((time.perf_counter(), line.encode()))
                    ready.set()
                    if len(arrivals) > trials:
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the definitions stream sent nothing")
    lags = []
    with httpx.Client(base_url=plat.urls[0], headers=headers, timeout=10) as http:
        for i in range(trials):
            seen = len(arrivals)
            r = http.patch(f"/api/feature_flags/{key}", json={"name": f"renamed {i}"})
            r.raise_for_status()
            done = time.perf_counter()
            deadline = done + 5
            while len(arrivals) == seen and time.perf_counter() < deadline:
                time.sleep(0.001)
            if len(arrivals) == seen:
                raise RuntimeError(f"change {i} did not reach the stream within 5 s")
            lags.append(max(0.0, arrivals[seen][0] - done))
            time.sleep(0.05)
    thread.join(5)
    return lags


def creatable(flag: dict[str, Any]) -> dict[str, Any]:
    """A served flag as the admin API takes it (no id; dependencies by key)."""
    filters = json.loads(json.dumps(flag["filters"]))
    for group in filters.get("groups", []):
        for prop in group.get("properties", []):
            prop.pop("dependency_chain", None)
    return {
        "key": flag["key"],
        "name": flag.get("name", ""),
        "active": flag["active"],
        "filters": filters,
    }


@dataclass
class ServerFigures:
    closed: list[dict[str, float]] = field(default_factory=list)
    paced: dict[str, float] = field(default_factory=dict)
    identify: dict[str, float] = field(default_factory=dict)
    stream: dict[str, float] = field(default_factory=dict)


def measure(
    plat: Platform,
    flags: Sequence[dict[str, Any]],
    person: dict[str, Any],
    *,
    concurrencies: Sequence[int],
    seconds: float,
    rate: float,
    lag_trials: int,
) -> ServerFigures:
    figures = ServerFigures()
    requests = flags_requests(plat, person)
    asyncio.run(_spread(plat, requests, 8, 2.0))  # warm-up: caches, connections, JIT-free paths
    for concurrency in concurrencies:
        r = asyncio.run(_spread(plat, requests, concurrency, seconds))
        if r.failed:
            raise RuntimeError(
                f"{r.failed} failed requests at concurrency {concurrency}: "
                f"{r.errors[:3]} {dict(r.statuses)}"
            )
        figures.closed.append(
            {
                "concurrency": concurrency,
                "rps": r.ok / r.elapsed_s,
                "p50_ms": r.latency_ms(0.5),
                "p99_ms": r.latency_ms(0.99),
            }
        )
        print(
            f"  closed loop, {concurrency:>3} connections: {figures.closed[-1]['rps']:8.0f} req/s  "
            f"p50 {figures.closed[-1]['p50_ms']:.2f} ms  p99 {figures.closed[-1]['p99_ms']:.2f} ms",
            flush=True,
        )
    paced = asyncio.run(fixed_rate(plat, requests, rate, seconds * 1.5))
    figures.paced = {
        "target_rps": rate,
        "achieved_rps": paced.sent / paced.elapsed_s,
        "ok": paced.ok,
        "sent": paced.sent,
        "p50_ms": paced.latency_ms(0.5),
        "p99_ms": paced.latency_ms(0.99),
        "client_late_p99_ms": 1000 * quantile(paced.late_s, 0.99),
    }
    print(
        f"  paced at {rate:.0f} req/s: achieved {figures.paced['achieved_rps']:.0f}  "
        f"p50 {figures.paced['p50_ms']:.2f} ms  p99 {figures.paced['p99_ms']:.2f} ms  "
        f"(client's own send lateness p99 {figures.paced['client_late_p99_ms']:.2f} ms)",
        flush=True,
    )
    figures.identify = summarize_lags(identify_lag(plat, lag_trials))
    print(
        f"  identify -> /flags lag over {lag_trials} people: "
        f"p50 {figures.identify['p50_ms']:.1f} ms  "
        f"p99 {figures.identify['p99_ms']:.1f} ms",
        flush=True,
    )
    figures.stream = summarize_lags(sse_lag(plat, flags[0]["key"], max(10, lag_trials // 5)))
    print(
        f"  change -> SSE on the other instance: p50 {figures.stream['p50_ms']:.1f} ms  "
        f"p99 {figures.stream['p99_ms']:.1f} ms  max {figures.stream['max_ms']:.1f} ms",
        flush=True,
    )
    return figures
