"""Storage upkeep (native mode) as a periodic job: run once when a writer starts, then by the
scheduler; and a writer that did not run it still stores late events for dropped days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from services.core.migrate import migrate
from services.core.runtime import running
from services.core.settings import Settings
from services.ingest import SERVICE, tasks
from services.ingest.config import IngestConfig
from services.ingest.storage import partition_name, partitions_of
from tests.support import Servers, eventually, new_database

AHEAD_DAYS = 3
RETENTION_DAYS = 30
CONFIGS = {
    IngestConfig: IngestConfig(
        events_retention_days=RETENTION_DAYS, partitions_ahead_days=AHEAD_DAYS
    )
}


@pytest.fixture
def settings(servers: Servers) -> Iterator[Settings]:
    url = new_database(servers.pg_url)
    migrate(url)
    nats = servers.new_nats()  # the writer's durable consumer must not meet other tests' events
    yield Settings(
        database_url=url,
        nats_url=nats.url,
        db_pool_max=4,
    )
    nats.stop()


async def _partitions(settings: Settings) -> set[str]:
    assert settings.database_url
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cur = await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
        )
        return {str(r[0]) for r in await cur.fetchall()}


async def _execute(settings: Settings, query: sql.Composable) -> None:
    assert settings.database_url
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as c:
        await c.execute(query)


def _create(day: date) -> sql.Composed:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return sql.SQL("CREATE TABLE {} PARTITION OF events FOR VALUES FROM ({}) TO ({})").format(
        sql.Identifier(partition_name(day)),
        sql.Literal(start),
        sql.Literal(start + timedelta(days=1)),
    )


def _drop(day: date) -> sql.Composed:
    return sql.SQL("DROP TABLE {}").format(sql.Identifier(partition_name(day)))


async def test_the_upkeep_job_creates_partitions_ahead_and_drops_expired_ones(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job's interval is an hour; here the scheduler fires it every half second.
    monkeypatch.setattr(tasks, "UPKEEP_INTERVAL_S", 0.5)
    today = datetime.now(UTC).date()
    ahead = today + timedelta(days=AHEAD_DAYS)
    expired = today - timedelta(days=RETENTION_DAYS + 70)
    async with running(settings, [SERVICE], role="worker", configs=CONFIGS):
        # The run at start-up, done before the writer consumed anything.
        assert {partition_name(today), partition_name(ahead)} <= await _partitions(settings)
        await _execute(settings, _drop(ahead))
        await _execute(settings, _create(expired))

        async def upkept() -> bool:
            names = await _partitions(settings)
            return partition_name(ahead) in names and partition_name(expired) not in names

        await eventually(upkept)
        assert settings.database_url
        with psycopg.connect(settings.database_url) as conn:
            fired = conn.execute(
                "SELECT name FROM periodic_jobs WHERE name = 'ingest.upkeep'"
            ).fetchall()
        assert fired == [("ingest.upkeep",)]


async def test_the_api_role_runs_no_upkeep(settings: Settings) -> None:
    async with running(settings, [SERVICE], role="api", configs=CONFIGS):
        assert await _partitions(settings) == set()


async def test_a_writer_recreates_an_expired_day_another_process_dropped(
    settings: Settings,
) -> None:
    # Upkeep runs in one process; another's writer still knows the partition it dropped.
    day = datetime.now(UTC).date() - timedelta(days=RETENTION_DAYS + 10)
    async with running(settings, [SERVICE], role="api", configs=CONFIGS) as ctx:
        partitions = partitions_of(ctx)
        await _execute(settings, _create(day))
        await partitions.refresh()
        assert partition_name(day) in partitions.known
        await _execute(settings, _drop(day))
        await partitions.ensure([day])
        assert partition_name(day) in await _partitions(settings)
