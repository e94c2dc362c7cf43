"""`devflow rebuild billing` over events delivered as webhooks, shuffled and duplicated."""

from __future__ import annotations

import asyncio
import random
import subprocess
from typing import Any

import httpx
import psycopg
import pytest

from services.billing.repo import projection as repo
from tests.billing.factories import deliver, devflow
from tests.billing.history import history
from tests.billing.test_projection import load, without_project
from tests.support import Stack, wait_for


def snapshot(stack: Stack, project_id: int) -> dict[str, list[Any]]:
    async def read() -> dict[str, list[Any]]:
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            return without_project(await repo.snapshot(conn, project_id))

    return asyncio.run(read())


def rebuild(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return devflow(stack, "rebuild", "billing", *args)


@pytest.fixture
def expected(stack: Stack) -> dict[str, list[Any]]:
    """The projection of the history applied in order, in-process, in a project of its own."""
    project_id = stack.project("reference").id

    async def build() -> None:
        async with await psycopg.AsyncConnection.connect(
            stack.database_url, autocommit=True
        ) as conn:
            await load(conn, project_id, history())

    asyncio.run(build())
    return snapshot(stack, project_id)


def test_webhooks_in_any_order_give_the_rebuilt_projection(
    stack: Stack, bhttp: httpx.Client, billing_project: Any, expected: dict[str, list[Any]]
) -> None:
    events = history()
    deliveries = events + events[::3]
    random.Random(7).shuffle(deliveries)
    for evt in deliveries:
        assert deliver(bhttp, billing_project.token, evt).status_code == 200
    wait_for(lambda: snapshot(stack, billing_project.id) == expected)
    checked = rebuild(stack, "--project", str(billing_project.id), "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "equals the log" in checked.stdout

    with psycopg.connect(stack.database_url) as conn:
        conn.execute(
            "UPDATE billing_subscriptions SET status = 'unpaid'"
            " WHERE project_id = %s AND id = 'sub_A'",
            (billing_project.id,),
        )
    drifted = rebuild(stack, "--project", str(billing_project.id), "--check")
    assert drifted.returncode == 1
    assert f"differs: {billing_project.id}/billing_subscriptions/sub_A" in drifted.stdout
    fixed = rebuild(stack, "--project", str(billing_project.id))
    assert fixed.returncode == 0, fixed.stderr
    assert snapshot(stack, billing_project.id) == expected
