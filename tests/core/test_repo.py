"""``services.core.repo`` in process: each function against a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from services.core.repo import jobs, migrations, platform, projects
from tests.support import Servers, migrated_database, new_database


@pytest.fixture(scope="module")
def database(servers: Servers) -> str:
    return migrated_database(servers.pg_url)


@pytest.fixture
async def conn(database: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as connection:
        yield connection


def test_projects_insert_and_list(database: str) -> None:
    name = f"repo-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database) as sync:
        made = projects.insert_project(sync, name, f"phc_{name}", f"phs_{name}")
        listed = projects.select_projects(sync)
    assert (made.name, made.token, made.secret_key) == (name, f"phc_{name}", f"phs_{name}")
    assert made in listed
    assert [p.id for p in listed] == sorted(p.id for p in listed)


async def test_projects_lookups(database: str, conn: psycopg.AsyncConnection[Any]) -> None:
    with psycopg.connect(database) as sync:
        made = projects.insert_project(sync, "lookups", "phc_lookups", "phs_lookups")
    assert await projects.select_id_by_token(conn, "phc_lookups") == made.id
    assert await projects.select_id_by_secret_key(conn, "phs_lookups") == made.id
    assert await projects.select_secret_key(conn, made.id) == "phs_lookups"
    assert await projects.select_id_by_token(conn, "phs_lookups") is None
    assert await projects.select_id_by_secret_key(conn, "phc_lookups") is None
    assert await projects.select_secret_key(conn, -1) is None


def test_migrations_record(servers: Servers) -> None:
    url = new_database(servers.pg_url)
    with psycopg.connect(url, autocommit=True) as sync:
        assert not migrations.table_exists(sync)
        migrations.create_table(sync)
        migrations.create_table(sync)  # idempotent
        assert migrations.table_exists(sync)
        migrations.insert_applied(sync, 2, "0002_b.sql", "bb")
        migrations.insert_applied(sync, 1, "0001_a.sql", "aa")
        assert migrations.select_applied(sync) == {1: ("0001_a.sql", "aa"), 2: ("0002_b.sql", "bb")}


def test_migration_lock_is_exclusive_until_unlocked(database: str) -> None:
    key = 0x7E57
    probe = "SELECT pg_try_advisory_lock(%s)"
    with (
        psycopg.connect(database, autocommit=True) as holder,
        psycopg.connect(database, autocommit=True) as other,
    ):
        migrations.lock(holder, key)
        assert other.execute(probe, (key,)).fetchone() == (False,)
        migrations.unlock(holder, key)
        assert other.execute(probe, (key,)).fetchone() == (True,)


async def test_platform(conn: psycopg.AsyncConnection[Any]) -> None:
    assert await platform.select_storage_mode(conn) in ("partitioned", "timescaledb")
    await platform.ping(conn)


async def test_periodic_lock_claim_and_due_in(
    database: str, conn: psycopg.AsyncConnection[Any]
) -> None:
    name = f"repo-test-{uuid.uuid4().hex[:8]}"
    assert await jobs.due_in(conn, name, 60.0) is None  # never ran
    assert await jobs.try_lock(conn, 1, name)
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as other:
        assert not await jobs.try_lock(other, 1, name)
    assert await jobs.claim_run(conn, name, 60.0)
    assert not await jobs.claim_run(conn, name, 60.0)  # not due again for a minute
    due = await jobs.due_in(conn, name, 60.0)
    assert due is not None
    assert 0 < due <= 60


async def test_enqueue_is_part_of_the_callers_transaction(database: str) -> None:
    message_id = str(uuid.uuid4())
    count = "SELECT count(*) FROM dramatiq.queue WHERE message_id = %s"
    async with await psycopg.AsyncConnection.connect(database) as conn:
        async with conn.transaction(force_rollback=True):
            await jobs.enqueue(conn, queue="q", message_id=message_id, message="{}", delay_s=0.0)
            assert await (await conn.execute(count, (message_id,))).fetchone() == (1,)
        assert await (await conn.execute(count, (message_id,))).fetchone() == (0,)
        await jobs.enqueue(conn, queue="q", message_id=message_id, message="{}", delay_s=5.0)
        await conn.commit()
        row = await (
            await conn.execute(
                "SELECT state, available_at > now() FROM dramatiq.queue WHERE message_id = %s",
                (message_id,),
            )
        ).fetchone()
    assert row == ("queued", True)
