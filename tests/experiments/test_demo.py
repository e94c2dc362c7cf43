"""``devflow demo experiment`` seeds an experiment through the public APIs that the results API
(and so the dashboard) can show."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx

from tests.flags.factories import admin
from tests.support import ROOT, Server, Stack, wait_for


def test_demo_experiment(http: httpx.Client, server: Server, stack: Stack, project: Any) -> None:
    cmd = [
        sys.executable,
        "-m",
        "services.cli.main",
        "demo",
        "experiment",
        "--people",
        "300",
        "--url",
        server.url,
        "--project",
        str(project.id),
    ]
    done = subprocess.run(
        cmd, env=stack.env(), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "captured" in done.stdout
    (exp,) = http.get("/api/experiments", headers=admin(project)).json()["results"]
    assert exp["status"] == "running"
    assert {m["name"] for m in exp["metrics"]} >= {
        "purchase",
        "revenue per user",
        "checkout funnel",
    }

    def all_exposed() -> Any:
        r = http.get(
            f"/api/experiments/{exp['id']}/results",
            params={"refresh": "true"},
            headers=admin(project),
        )
        body = r.json()
        exposures = sum(v["exposures"] for v in body["metrics"][0]["variants"])
        return body if exposures == 300 else None

    body = wait_for(all_exposed, timeout_s=60, interval_s=1)
    assert body["control"] == "control"
    assert [v["key"] for v in body["metrics"][0]["variants"]] == [
        "control",
        "green-button",
        "one-page",
    ]
    assert all(v["value"] is not None for m in body["metrics"] for v in m["variants"])
    # A second run adds another experiment on the same flag instead of failing.
    again = subprocess.run(
        cmd, env=stack.env(), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    unreachable = subprocess.run(
        [*cmd[:-4], "--url", "http://127.0.0.1:9", "--project", str(project.id)],
        env=stack.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unreachable.returncode == 2
    assert "cannot reach" in unreachable.stderr
