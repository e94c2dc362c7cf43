"""TimescaleDB mode, the production storage path. Needs Docker (testcontainers); skipped without.

Machines without a Docker engine (CI here) run the native-partitioning mode only; this test runs
wherever `docker info` works.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from services.core.migrate import migrate
from tests.support import Servers, Stack, count_rows, wait_for

IMAGE = "timescale/timescaledb:2.17.2-pg17"


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _docker_available(), reason="needs a Docker engine")


@pytest.fixture
def timescale_stack(servers: Servers, tmp_path: Path) -> Iterator[Stack]:
    community = pytest.importorskip("testcontainers.community.postgres")
    with community.PostgresContainer(IMAGE, driver=None) as pg:
        url = pg.get_connection_url()
        migrate(url)
        stack = Stack(url, servers.shared_nats_url, tmp_path)
        yield stack
        stack.stop()


def test_events_are_a_hypertable_with_a_continuous_aggregate(timescale_stack: Stack) -> None:
    stack = timescale_stack
    project: Any = stack.project()
    api = stack.serve(role="all", DEVFLOW_EVENTS_RETENTION_DAYS="90")
    assert httpx.get(f"{api.url}/_ready").json()["storage_mode"] == "timescaledb"
    late = datetime.now(UTC) - timedelta(days=30)
    batch = [
        {"event": "ts", "distinct_id": "a", "uuid": str(uuid.uuid4()), "timestamp": t.isoformat()}
        for t in (late, late, datetime.now(UTC))
    ]
    res = httpx.post(f"{api.url}/batch", json={"api_key": project.token, "batch": batch})
    assert res.status_code == 200
    wait_for(lambda: count_rows(stack.database_url, project.id) == 3, 30)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        hyper = conn.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = 'events'"
        ).fetchone()
        assert hyper == (1,)
        conn.execute("CALL refresh_continuous_aggregate('events_hourly', NULL, NULL)")
        total = conn.execute(
            "SELECT sum(count) FROM events_hourly WHERE project_id = %s", (project.id,)
        ).fetchone()
        assert total == (3,)
        jobs = {
            r[0]
            for r in conn.execute("SELECT proc_name FROM timescaledb_information.jobs").fetchall()
        }
        assert {
            "policy_compression",
            "policy_retention",
            "policy_refresh_continuous_aggregate",
        } <= jobs
