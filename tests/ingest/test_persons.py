"""The persons projection follows PostHog's merge rules."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.ingest.factories import alias, ev, identify, read_person, send, settled
from tests.support import Server, Stack


def test_identify_merges_two_existing_persons_and_old_events_follow(
    server: Server, project: Any, http: httpx.Client
) -> None:
    send(http, project, [ev("view", "anon-a", **{"$set": {"browser": "firefox"}})])
    send(http, project, [ev("view", "user-a", **{"$set": {"plan": "pro"}})])
    settled(server, project, 2)
    before = read_person(http, project, "anon-a")["id"]
    send(http, project, [identify("user-a", anon="anon-a")])
    events = settled(server, project, 3)
    person = read_person(http, project, "user-a")
    assert set(person["distinct_ids"]) == {"anon-a", "user-a"}
    assert person["properties"] == {"browser": "firefox", "plan": "pro"}
    assert before != person["id"]
    assert {e["person_id"] for e in events} == {person["id"]}


def test_merge_refused_for_illegal_ids_and_identified_sources(
    server: Server, project: Any, http: httpx.Client
) -> None:
    send(
        http,
        project,
        [
            identify("user-b"),
            identify("user-c"),
            # user-c is identified: it can't be swallowed by user-b.
            alias("user-b", "user-c"),
            # SDK placeholders never join persons.
            identify("user-b", anon="undefined"),
            identify("user-b", anon="null"),
        ],
    )
    settled(server, project, 5)
    b, c = read_person(http, project, "user-b"), read_person(http, project, "user-c")
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
    send(
        http,
        project,
        [
            ev("a", "p1", **{"$set": {"x": 1, "y": 2}, "$set_once": {"first": "a"}}),
            ev("b", "p1", **{"$set": {"x": 3}, "$set_once": {"first": "b"}, "$unset": ["y"]}),
            ev(
                "$groupidentify",
                "p1",
                **{"$group_type": "company", "$group_key": "acme", "$group_set": {"seats": 5}},
            ),
        ],
    )
    settled(server, project, 3)
    assert read_person(http, project, "p1")["properties"] == {"x": 3, "first": "a"}
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT properties FROM groups WHERE project_id = %s AND group_key = 'acme'",
            (project.id,),
        ).fetchone()
    assert row == ({"seats": 5},)
