"""Point-in-time activity features over events captured through the shared server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from services.churn.repo import features
from services.churn.repo.features import ActivityFeatures
from tests.support import Server, Stack, all_events, wait_for

T = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def at(days_before_t: float) -> str:
    return (T - timedelta(days=days_before_t)).isoformat()


def event(name: str, distinct_id: str, days: float, **props: Any) -> dict[str, Any]:
    return {"event": name, "distinct_id": distinct_id, "timestamp": at(days), "properties": props}


def send_and_settle(server: Server, project: Any, batch: list[dict[str, Any]]) -> None:
    """Capture ``batch`` and wait until the project holds that many more stored events."""
    before = len(all_events(server.url, project.secret_key))
    res = httpx.post(f"{server.url}/batch", json={"api_key": project.token, "batch": batch})
    assert res.status_code == 200, res.text
    wait_for(lambda: len(all_events(server.url, project.secret_key)) >= before + len(batch))


def snapshot(stack: Stack, project: Any, ids: list[str]) -> list[ActivityFeatures]:
    async def run() -> list[ActivityFeatures]:
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            return await features.activity(conn, project.id, [(d, T) for d in ids], 5)

    return asyncio.run(run())


def flag(distinct_id: str, days: float, key: str, variant: str) -> dict[str, Any]:
    props = {"$feature_flag": key, "$feature_flag_response": variant}
    return event("$feature_flag_called", distinct_id, days, **props)


HISTORY = [
    # anon-1's events before the identify belong to user-1 once merged.
    event("pageview", "anon-1", 45, **{"$session_id": "s0"}),
    event("pageview", "user-1", 40, **{"$session_id": "s1"}),
    event("signup", "user-1", 40.01, **{"$session_id": "s1"}),
    event("pageview", "user-1", 20, **{"$session_id": "s2"}),
    event("pageview", "user-1", 3, **{"$session_id": "s3"}),
    event("export", "user-1", 2.5, **{"$session_id": "s3"}),
    flag("user-1", 3, "new-nav", "test"),
    flag("user-1", 2.9, "new-nav", "test"),
    flag("user-1", 20, "pricing", "control"),
    event("pageview", "user-2", 100),  # outside every window
    event("pageview", "user-1", 100),
]


def test_features_count_windows_sessions_flags_and_merged_persons(
    server: Server, stack: Stack, project: Any
) -> None:
    send_and_settle(server, project, HISTORY)
    send_and_settle(
        server,
        project,
        [
            {
                "event": "$identify",
                "distinct_id": "user-1",
                "properties": {"$anon_distinct_id": "anon-1"},
                "timestamp": at(200),
            }
        ],
    )
    wait_for(lambda: snapshot(stack, project, ["user-1"])[0].events_90d == 9)
    user1, user2, nobody = snapshot(stack, project, ["user-1", "user-2", "nobody"])
    assert (user1.events_7d, user1.events_30d, user1.events_90d) == (4, 6, 9)
    assert user1.active_days_30d in {3, 4}  # 2.9 and 3 days before t may share a date
    assert user1.recency_days == 2.5
    assert user1.trend_30d == 6 - 3
    assert user1.event_types_90d == 4
    assert user1.sessions_90d == 4
    assert user1.flag_exposures == {"new-nav=test": 2, "pricing=control": 1}
    assert (user2.events_90d, user2.recency_days, user2.flag_exposures) == (0, None, {})
    assert nobody.events_90d == 0


def test_an_event_after_t_never_changes_a_snapshot(
    server: Server, stack: Stack, project: Any
) -> None:
    send_and_settle(server, project, HISTORY)
    before = snapshot(stack, project, ["user-1", "anon-1"])
    later = [
        event("pageview", "user-1", -0.5, **{"$session_id": "late"}),
        event("purchase", "user-1", 0),  # exactly at t: not before it
        flag("user-1", -1, "late-flag", "x"),
        flag("user-1", -1, "late-flag", "x"),
        flag("user-1", -1, "late-flag", "x"),
        event("pageview", "anon-1", -1),
    ]
    send_and_settle(server, project, later)
    assert snapshot(stack, project, ["user-1", "anon-1"]) == before
