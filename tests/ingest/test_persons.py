"""The persons projection follows PostHog's merge rules."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.support import Server, Stack, all_events, wait_for


def _send(http: httpx.Client, project: Any, events: list[dict[str, Any]]) -> None:
    res = http.post("/batch", json={"api_key": project.token, "batch": events})
    assert res.status_code == 200, res.text


def _settled(server: Server, project: Any, n: int) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (e := all_events(server.url, project.secret_key)) and len(e) >= n and e, 20
    )


def _person(http: httpx.Client, project: Any, distinct_id: str) -> dict[str, Any]:
    res = http.get(
        f"/api/persons/{distinct_id}", headers={"Authorization": f"Bearer {project.secret_key}"}
    )
    assert res.status_code == 200, res.text
    return res.json()


def _ev(event: str, distinct_id: str, **props: Any) -> dict[str, Any]:
    return {"event": event, "distinct_id": distinct_id, "properties": props}


def test_identify_merges_two_existing_persons_and_old_events_follow(
    server: Server, project: Any, http: httpx.Client
) -> None:
    _send(http, project, [_ev("view", "anon-a", **{"$set": {"browser": "firefox"}})])
    _send(http, project, [_ev("view", "user-a", **{"$set": {"plan": "pro"}})])
    _settled(server, project, 2)
    before = _person(http, project, "anon-a")["id"]
    _send(http, project, [_ev("$identify", "user-a", **{"$anon_distinct_id": "anon-a"})])
    events = _settled(server, project, 3)
    person = _person(http, project, "user-a")
    assert set(person["distinct_ids"]) == {"anon-a", "user-a"}
    assert person["properties"] == {"browser": "firefox", "plan": "pro"}
    assert before != person["id"]
    assert {e["person_id"] for e in events} == {person["id"]}


def test_merge_refused_for_illegal_ids_and_identified_sources(
    server: Server, project: Any, http: httpx.Client
) -> None:
    _send(
        http,
        project,
        [
            _ev("$identify", "user-b"),
            _ev("$identify", "user-c"),
            # user-c is identified: it can't be swallowed by user-b.
            _ev("$create_alias", "user-b", alias="user-c"),
            # SDK placeholders never join persons.
            _ev("$identify", "user-b", **{"$anon_distinct_id": "undefined"}),
            _ev("$identify", "user-b", **{"$anon_distinct_id": "null"}),
        ],
    )
    _settled(server, project, 5)
    b, c = _person(http, project, "user-b"), _person(http, project, "user-c")
    assert b["id"] != c["id"]
    assert b["distinct_ids"] == ["user-b"]
    assert c["distinct_ids"] == ["user-c"]
    missing = http.get(
        "/api/persons/undefined", headers={"Authorization": f"Bearer {project.secret_key}"}
    )
    assert missing.status_code == 404


def test_set_set_once_unset_and_groupidentify(
    server: Server, project: Any, http: httpx.Client, stack: Stack
) -> None:
    _send(
        http,
        project,
        [
            _ev("a", "p1", **{"$set": {"x": 1, "y": 2}, "$set_once": {"first": "a"}}),
            _ev("b", "p1", **{"$set": {"x": 3}, "$set_once": {"first": "b"}, "$unset": ["y"]}),
            _ev(
                "$groupidentify",
                "p1",
                **{"$group_type": "company", "$group_key": "acme", "$group_set": {"seats": 5}},
            ),
        ],
    )
    _settled(server, project, 3)
    assert _person(http, project, "p1")["properties"] == {"x": 3, "first": "a"}
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT properties FROM groups WHERE project_id = %s AND group_key = 'acme'",
            (project.id,),
        ).fetchone()
    assert row == ({"seats": 5},)
