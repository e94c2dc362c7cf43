"""Live definitions: the SSE stream on every instance (fan-out through NATS), scheduled changes
applied by the job and recorded in the log, the outbox, and ``devflow rebuild flags``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.flags.factories import admin, create, fields, rollout_flag
from tests.support import ROOT, Stack, wait_for


class StreamReader:
    """Reads ``definitions`` events from the SSE stream in a thread."""

    def __init__(self, url: str, project: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=60))
        self._url, self._project = url, project
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        headers = admin(self._project, Accept="text/event-stream")
        params = {"token": self._project.token}
        try:
            with self._client.stream(
                "GET", f"{self._url}/api/feature_flags/stream", headers=headers, params=params
            ) as r:
                assert r.status_code == 200
                event, data, eid = None, [], None
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line.startswith("id:"):
                        eid = line[3:].strip()
                    elif line == "" and event:
                        self.events.append(json.loads("\n".join(data)))
                        self.ids.append(eid or "")
                        event, data, eid = None, [], None
        except httpx.HTTPError:
            return

    def rollout_of(self, key: str) -> Any:
        if not self.events:
            return None
        for flag in self.events[-1]["flags"]:
            if flag["key"] == key:
                return flag["filters"]["groups"][0]["rollout_percentage"]
        return None

    def close(self) -> None:
        self._client.close()


def test_stream_pushes_changes_to_every_instance(
    servers: Any, tmp_path: Any, http: httpx.Client
) -> None:
    stack: Stack = servers.stack(tmp_path)
    try:
        first = stack.serve(name="flags-a", services=("flags",))
        second = stack.serve(name="flags-b", services=("flags",))
        project = stack.project()
        with httpx.Client(base_url=first.url, timeout=30) as a:
            create(a, project, rollout_flag("live", 10))
            readers = [StreamReader(first.url, project), StreamReader(second.url, project)]
            try:
                for reader in readers:
                    wait_for(lambda r=reader: r.rollout_of("live") == 10)
                # The change goes to instance A; both streams must carry it.
                r = a.patch(
                    "/api/feature_flags/live",
                    json={"rollout_percentage": 75},
                    headers=admin(project),
                )
                assert r.status_code == 200
                for reader in readers:
                    wait_for(lambda r=reader: r.rollout_of("live") == 75)
                    assert len(set(reader.ids)) == len(reader.ids)  # each event a new version
            finally:
                for reader in readers:
                    reader.close()
    finally:
        stack.stop()


def test_stream_requires_the_secret_key(http: httpx.Client, project: Any) -> None:
    r = http.get("/api/feature_flags/stream", params={"token": project.token})
    assert r.status_code == 401
    assert fields(r) == ["Authorization"]


def test_scheduled_change_is_applied_and_logged(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("sched", 10))
    run_at = datetime.now(UTC) + timedelta(seconds=1)
    r = http.post(
        "/api/feature_flags/sched/schedules",
        json={"run_at": run_at.isoformat(), "change": {"rollout_percentage": 50}, "reason": "ramp"},
        headers=admin(project, **{"X-Devflow-Actor": "ops"}),
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    off = http.post(
        "/api/feature_flags/sched/schedules",
        json={"run_at": (run_at + timedelta(seconds=1)).isoformat(), "change": {"active": False}},
        headers=admin(project),
    ).json()

    def applied() -> Any:
        rows = http.get("/api/feature_flags/sched/schedules", headers=admin(project)).json()[
            "results"
        ]
        return rows if all(s["status"] == "applied" for s in rows) else None

    rows = wait_for(applied, timeout_s=30)
    assert [s["applied_version"] for s in rows] == [2, 3]
    flag = http.get("/api/feature_flags/sched", headers=admin(project)).json()
    assert flag["active"] is False
    assert flag["filters"]["groups"][0]["rollout_percentage"] == 50
    history = http.get("/api/feature_flags/sched/history", headers=admin(project)).json()["results"]
    assert [(c["kind"], c["actor"]) for c in history] == [
        ("create", "api"),
        ("rollout", "ops"),
        ("update", "api"),
    ]
    assert history[1]["reason"] == "ramp"
    assert datetime.fromisoformat(history[1]["created_at"]) >= run_at
    # Applied changes can't be cancelled; pending ones can, and then never apply.
    assert (
        http.delete(
            f"/api/feature_flags/sched/schedules/{off['id']}", headers=admin(project)
        ).status_code
        == 409
    )


def test_cancelled_schedule_never_applies(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("cancel-me", 10))
    run_at = datetime.now(UTC) + timedelta(seconds=1)
    s = http.post(
        "/api/feature_flags/cancel-me/schedules",
        json={"run_at": run_at.isoformat(), "change": {"active": False}},
        headers=admin(project),
    ).json()
    r = http.delete(f"/api/feature_flags/cancel-me/schedules/{s['id']}", headers=admin(project))
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    # A later schedule on the same flag applying proves the job ran past the cancelled one.
    http.post(
        "/api/feature_flags/cancel-me/schedules",
        json={"run_at": (run_at + timedelta(seconds=1)).isoformat(), "change": {"name": "renamed"}},
        headers=admin(project),
    )
    wait_for(
        lambda: (
            http.get("/api/feature_flags/cancel-me", headers=admin(project)).json()["name"]
            == "renamed"
        ),
        timeout_s=30,
    )
    assert http.get("/api/feature_flags/cancel-me", headers=admin(project)).json()["active"] is True


def test_bad_schedules(http: httpx.Client, project: Any) -> None:
    create(http, project, rollout_flag("sb", 10))
    cases = [
        ({"change": {"active": False}}, "run_at"),
        ({"run_at": "soon", "change": {"active": False}}, "run_at"),
        ({"run_at": "2030-01-01T00:00:00Z"}, "change"),
        ({"run_at": "2030-01-01T00:00:00Z", "change": {"colour": 1}}, "change.colour"),
        (
            {"run_at": "2030-01-01T00:00:00Z", "change": {"rollout_percentage": 150}},
            "change.filters.groups[0].rollout_percentage",
        ),
    ]
    for body, field in cases:
        r = http.post("/api/feature_flags/sb/schedules", json=body, headers=admin(project))
        assert r.status_code == 400, r.text
        assert field in fields(r), (body, r.json())
    assert (
        http.post(
            "/api/feature_flags/nope/schedules",
            json={"run_at": "2030-01-01T00:00:00Z", "change": {"active": False}},
            headers=admin(project),
        ).status_code
        == 404
    )
    assert http.get("/api/feature_flags/sb/schedules").status_code == 401


def test_rebuild_equals_live(http: httpx.Client, project: Any, stack: Stack) -> None:
    create(http, project, rollout_flag("r1", 10))
    create(http, project, rollout_flag("r2", 20))
    http.patch("/api/feature_flags/r1", json={"rollout_percentage": 30}, headers=admin(project))
    http.delete("/api/feature_flags/r2", headers=admin(project))
    cmd = [
        sys.executable,
        "-m",
        "services.cli.main",
        "rebuild",
        "flags",
        "--project",
        str(project.id),
    ]
    env = stack.env()
    check = subprocess.run(
        [*cmd, "--check"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "equals" in check.stdout
    # Damage the projection: rebuild reports it and restores the log's state.
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE feature_flags SET active = false, name = 'tampered'"
            " WHERE project_id = %s AND key = 'r1'",
            (project.id,),
        )
    bad = subprocess.run(
        [*cmd, "--check"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    assert f"{project.id}/r1" in bad.stdout
    fixed = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert fixed.returncode == 0, fixed.stderr
    flag = http.get("/api/feature_flags/r1", headers=admin(project)).json()
    assert flag["name"] == "flag r1"
    assert flag["active"] is True
    assert flag["version"] == 2
    # The log itself refuses edits.
    with (
        psycopg.connect(stack.database_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.RaiseException, match="append-only"),
    ):
        conn.execute("UPDATE flag_changes SET reason = 'x' WHERE project_id = %s", (project.id,))
