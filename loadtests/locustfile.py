"""Locust load test of the capture API: single events, batches, and a mix shaped like SDK traffic.

``make loadtest`` (``loadtests/run.py``) starts a throwaway platform and runs this file headless.
Against a platform you started yourself::

    DEVFLOW_LOADTEST_TOKEN=phc_... .venv/bin/locust -f loadtests/locustfile.py \\
        --host http://127.0.0.1:8000

Every request name ends in ``[N events]``. When ``DEVFLOW_LOADTEST_TALLY`` names a file, the
final count of requests, failures and acknowledged events is written there as JSON when locust
quits, so that ``run.py`` can check that the database holds exactly the events acknowledged. (The
CSV report is written once a second and may miss the last requests.)

Bodies are encoded once at start-up: the load generator shares the machine with the platform and
must not spend its CPU building JSON. Events carry no ``uuid`` or ``timestamp``, so the server
assigns both and the same body can be sent again as new events.

``DEVFLOW_LOADTEST_PACE`` scales every user's request rate (default 1); ``0`` removes the pacing
and each user sends as fast as the server answers.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locust import FastHttpUser, constant, constant_throughput, events, task

if TYPE_CHECKING:
    from collections.abc import Callable

TOKEN = os.environ.get("DEVFLOW_LOADTEST_TOKEN", "")
if not TOKEN:
    raise SystemExit("set DEVFLOW_LOADTEST_TOKEN to the project token (loadtests/run.py does)")
PACE = float(os.environ.get("DEVFLOW_LOADTEST_PACE", "1"))
VARIANTS = 50  # distinct pre-encoded bodies per kind, cycled
USERS = 5_000  # distinct ids the bodies are spread over
JSON = {"Content-Type": "application/json"}
GZIP = {**JSON, "Content-Encoding": "gzip"}

TALLY_PATH = os.environ.get("DEVFLOW_LOADTEST_TALLY")
_EVENTS_IN_NAME = re.compile(r"\[(\d+) events?\]$")

_rng = random.Random(42)
_tally = {"requests": 0, "failures": 0, "events": 0}


@events.request.add_listener
def _count(name: str, exception: BaseException | None, **_: Any) -> None:
    _tally["requests"] += 1
    if exception is not None:
        _tally["failures"] += 1
    elif match := _EVENTS_IN_NAME.search(name):
        _tally["events"] += int(match.group(1))


@events.quit.add_listener
def _write_tally(**_: Any) -> None:
    # `quit` fires after the users have stopped, so no request is still being counted.
    if TALLY_PATH:
        Path(TALLY_PATH).write_text(json.dumps(_tally))


def _properties(user: int) -> dict[str, object]:
    return {
        "$current_url": "https://app.example.com/projects/42/insights",
        "$pathname": "/projects/42/insights",
        "$browser": ("Chrome", "Firefox", "Safari")[user % 3],
        "$os": ("Mac OS X", "Windows", "Linux")[user % 3],
        "$device_type": "Desktop",
        "$lib": "web",
        "$lib_version": "1.160.0",
        "$session_id": f"018f0000-0000-7000-8000-{user:012x}",
        "plan": "pro" if user % 3 else "free",
    }


def _event(name: str = "$pageview") -> dict[str, object]:
    user = _rng.randrange(USERS)
    return {"event": name, "distinct_id": f"user-{user}", "properties": _properties(user)}


def _encode(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _singles(name: str = "$pageview") -> itertools.cycle[bytes]:
    return itertools.cycle([_encode({"api_key": TOKEN, **_event(name)}) for _ in range(VARIANTS)])


def _batches(size: int, *, compress: bool = False) -> itertools.cycle[bytes]:
    bodies = [
        _encode({"api_key": TOKEN, "batch": [_event() for _ in range(size)]})
        for _ in range(VARIANTS)
    ]
    return itertools.cycle([gzip.compress(b) for b in bodies] if compress else bodies)


def _identifies() -> itertools.cycle[bytes]:
    # posthog-js after log-in: the anonymous id joins the user's person, with person properties.
    bodies = []
    for i in range(VARIANTS):
        event = _event("$identify")
        props = event["properties"]
        assert isinstance(props, dict)
        props["$anon_distinct_id"] = f"anon-{i}-{_rng.getrandbits(32):08x}"
        props["$set"] = {"email": f"{event['distinct_id']}@example.com"}
        bodies.append(_encode({"api_key": TOKEN, **event}))
    return itertools.cycle(bodies)


SINGLE = _singles()
BATCH_100 = _batches(100)
BATCH_10_GZIP = _batches(10, compress=True)
SINGLE_GZIP = itertools.cycle([gzip.compress(next(SINGLE)) for _ in range(VARIANTS)])
IDENTIFY = _identifies()


def _paced(requests_per_s: float) -> Callable[..., float]:
    return constant(0) if PACE <= 0 else constant_throughput(requests_per_s * PACE)


class SingleEventUser(FastHttpUser):
    """A server-side SDK that sends every event as it happens (``POST /capture``)."""

    weight = 2
    wait_time = _paced(20)

    @task
    def capture(self) -> None:
        self.client.post("/capture", data=next(SINGLE), headers=JSON, name="/capture [1 event]")


class BatchUser(FastHttpUser):
    """posthog-python's consumer thread flushing full batches of 100 (``POST /batch``)."""

    weight = 1
    wait_time = _paced(2)

    @task
    def batch(self) -> None:
        self.client.post("/batch", data=next(BATCH_100), headers=JSON, name="/batch [100 events]")


class MixedUser(FastHttpUser):
    """A browser with posthog-js: gzip-compressed singles and small batches, now and then an
    ``$identify`` that touches the persons projection."""

    weight = 2
    wait_time = _paced(10)

    @task(5)
    def pageview(self) -> None:
        self.client.post(
            "/e/?compression=gzip-js",
            data=next(SINGLE_GZIP),
            headers=JSON,
            name="/e gzip-js [1 event]",
        )

    @task(3)
    def small_batch(self) -> None:
        self.client.post(
            "/batch/", data=next(BATCH_10_GZIP), headers=GZIP, name="/batch gzip [10 events]"
        )

    @task(1)
    def identify(self) -> None:
        self.client.post(
            "/capture", data=next(IDENTIFY), headers=JSON, name="/capture $identify [1 event]"
        )
