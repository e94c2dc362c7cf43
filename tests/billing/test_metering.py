"""Usage metering: captured events aggregated per customer and window, reported to Stripe's
meter events exactly once, late events as corrections, across a reporter killed mid-call."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from tests.billing.factories import admin, customer, deliver, devflow, event
from tests.billing.stripe_fake import StripeFake
from tests.support import DEVFLOW, ROOT, Stack, wait_for

HOUR = 3600


def hour_start(hours_ago: int) -> datetime:
    now = int(time.time())
    return datetime.fromtimestamp((now // HOUR - hours_ago) * HOUR, UTC)


def capture(  # through the shared server: its ingest stores the events
    http: httpx.Client,
    project: Any,
    stack: Stack,
    events: list[tuple[str, str, datetime, dict[str, Any]]],
) -> None:
    batch = [
        {
            "uuid": str(uuid.uuid4()),
            "event": name,
            "distinct_id": who,
            "timestamp": at.isoformat(),
            "properties": props,
        }
        for name, who, at, props in events
    ]
    assert http.post("/batch", json={"api_key": project.token, "batch": batch}).status_code == 200
    ids = [e["uuid"] for e in batch]

    def stored() -> bool:
        with psycopg.connect(stack.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM analytics.events_v1"
                " WHERE project_id = %s AND uuid = ANY(%s::uuid[])",
                (project.id, ids),
            ).fetchone()
        return bool(row and row[0] == len(ids))

    wait_for(stored)


def link(http: httpx.Client, project: Any, cid: str, distinct_id: str, stack: Stack) -> None:
    assert (
        deliver(
            http, project.token, event("customer.created", customer(cid, distinct_id), 1)
        ).status_code
        == 200
    )

    def projected() -> bool:
        with psycopg.connect(stack.database_url) as conn:
            return bool(
                conn.execute(
                    "SELECT 1 FROM billing_customers WHERE project_id = %s AND id = %s",
                    (project.id, cid),
                ).fetchone()
            )

    wait_for(projected)


def meter(http: httpx.Client, project: Any, **body: Any) -> dict[str, Any]:
    body = {
        "event": "api_call",
        "stripe_event_name": "api_calls",
        "starts_at": hour_start(5).isoformat(),
        **body,
    }
    r = http.post("/api/billing/meters", json=body, headers=admin(project))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def report(http: httpx.Client, project: Any) -> dict[str, Any]:
    r = http.post("/api/billing/meters/report", headers=admin(project))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def sent(fake: StripeFake, project: Any) -> dict[str, str]:
    prefix = f"devflow-{project.id}-"
    return {
        e["identifier"]: e["payload"]["value"]
        for e in fake.meter_events
        if e["identifier"].startswith(prefix)
    }


def test_usage_is_reported_once_and_late_events_as_corrections(
    stack: Stack, http: httpx.Client, bhttp: httpx.Client, billing_project: Any, fake: StripeFake
) -> None:
    project = billing_project
    link(bhttp, project, "cus_m1", "metered-user", stack)
    calls = meter(bhttp, project)
    tokens = meter(
        bhttp,
        project,
        event="tokens_used",
        stripe_event_name="tokens",
        aggregation="sum",
        property="tokens",
    )
    w1, w2 = hour_start(3), hour_start(2)
    capture(
        http,
        project,
        stack,
        [
            ("api_call", "metered-user", w1 + timedelta(minutes=1), {}),
            ("api_call", "metered-user", w1 + timedelta(minutes=2), {}),
            ("api_call", "metered-user", w2 + timedelta(minutes=5), {}),
            ("api_call", "someone-unlinked", w2 + timedelta(minutes=5), {}),
            ("api_call", "metered-user", hour_start(0) + timedelta(seconds=1), {}),  # open window
            ("tokens_used", "metered-user", w1 + timedelta(minutes=3), {"tokens": 1500}),
            ("tokens_used", "metered-user", w1 + timedelta(minutes=4), {"tokens": 250.5}),
            ("tokens_used", "metered-user", w1 + timedelta(minutes=4), {"tokens": "lots"}),
        ],
    )
    fake.fail_next(1, status=429)  # backed off, then sent
    assert report(bhttp, project) == {"planned": 3, "reported": 3, "pending": 0, "failed": 0}
    c, t = calls["id"], tokens["id"]
    first = {
        f"devflow-{project.id}-{c}-cus_m1-{int(w1.timestamp())}-1": "2",
        f"devflow-{project.id}-{c}-cus_m1-{int(w2.timestamp())}-1": "1",
        f"devflow-{project.id}-{t}-cus_m1-{int(w1.timestamp())}-1": "1750.5",
    }
    assert sent(fake, project) == first
    assert report(bhttp, project) == {"planned": 0, "reported": 0, "pending": 0, "failed": 0}

    capture(http, project, stack, [("api_call", "metered-user", w1 + timedelta(minutes=30), {})])
    assert report(bhttp, project)["reported"] == 1
    assert sent(fake, project) == {
        **first,
        f"devflow-{project.id}-{c}-cus_m1-{int(w1.timestamp())}-2": "1",
    }
    usage = {
        m["id"]: m["usage"]
        for m in bhttp.get("/api/billing/meters", headers=admin(project)).json()["results"]
    }
    assert usage[c] == [{"status": "reported", "reports": 3, "value": 4.0, "last_error": None}]


def test_a_refused_report_is_failed_and_visible(
    stack: Stack, http: httpx.Client, bhttp: httpx.Client, billing_project: Any, fake: StripeFake
) -> None:
    project = billing_project
    link(bhttp, project, "cus_m2", "refused-user", stack)
    calls = meter(bhttp, project)
    capture(http, project, stack, [("api_call", "refused-user", hour_start(2), {})])
    fake.fail_next(1, status=400)
    assert report(bhttp, project)["failed"] == 1
    usage = bhttp.get("/api/billing/meters", headers=admin(project)).json()["results"][0]["usage"]
    assert usage[0]["status"] == "failed"
    assert usage[0]["last_error"].startswith("400")
    assert calls["window"] == "hour"


def test_exactly_once_across_a_reporter_killed_mid_call(
    stack: Stack,
    http: httpx.Client,
    bhttp: httpx.Client,
    billing_project: Any,
    fake: StripeFake,
    billing_key: str,
    stripe_fake: StripeFake,
) -> None:
    project = billing_project
    link(bhttp, project, "cus_m3", "killed-user", stack)
    meter(bhttp, project)
    capture(
        http,
        project,
        stack,
        [("api_call", "killed-user", hour_start(h) + timedelta(minutes=1), {}) for h in (1, 2, 3)],
    )
    env = {
        "DEVFLOW_BILLING_ENCRYPTION_KEY": billing_key,
        "DEVFLOW_STRIPE_API_BASE": stripe_fake.url,
    }
    command = ("billing", "report-usage", "--project", str(project.id))
    fake.hold()
    reporter = subprocess.Popen(
        [*DEVFLOW, *command],
        env=stack.env(**env),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(sent(fake, project)) == 1)  # Stripe has it; the answer is held
        reporter.send_signal(signal.SIGKILL)
        reporter.wait(timeout=30)
    finally:
        fake.release()
    again = devflow(stack, *command, **env)
    assert again.returncode == 0, again.stderr
    assert "3 sent" in again.stdout
    assert "0 new" in again.stdout
    assert len(sent(fake, project)) == 3
    identifiers = [e["identifier"] for e in fake.meter_events]
    assert len(identifiers) == len(set(identifiers))
    with psycopg.connect(stack.database_url) as conn:
        statuses = conn.execute(
            "SELECT status, count(*) FROM usage_reports WHERE project_id = %s GROUP BY 1",
            (project.id,),
        ).fetchall()
    assert statuses == [("reported", 3)]
