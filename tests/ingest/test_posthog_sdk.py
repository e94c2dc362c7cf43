"""The ``posthog`` package from PyPI, pointed at our server, captures what our API reads back."""

from __future__ import annotations

from typing import Any

import posthog

from tests.support import Server, all_events, wait_for


def _client(server: Server, project: Any) -> posthog.Posthog:
    return posthog.Posthog(
        project.token,
        host=server.url,
        flush_at=10,
        flush_interval=0.1,
        max_retries=2,
        sync_mode=False,
    )


def _person(http: Any, project: Any, distinct_id: str) -> dict[str, Any]:
    res = http.get(
        f"/api/persons/{distinct_id}", headers={"Authorization": f"Bearer {project.secret_key}"}
    )
    assert res.status_code == 200, res.text
    return res.json()


def test_capture_identify_alias_and_set_arrive_with_the_right_person(
    server: Server, project: Any, http: Any
) -> None:
    ph = _client(server, project)
    ph.capture("$pageview", distinct_id="anon-1", properties={"$current_url": "https://a.test/"})
    ph.capture("signed_up", distinct_id="anon-1", properties={"plan": "free"})
    # posthog-js style identify: anonymous id merged into the user's id.
    ph.capture(
        "$identify",
        distinct_id="user-1",
        properties={"$anon_distinct_id": "anon-1", "$set": {"email": "u1@example.com"}},
    )
    ph.set(distinct_id="user-1", properties={"name": "Ada"})
    ph.set_once(distinct_id="user-1", properties={"first_seen": "monday", "name": "ignored"})
    ph.alias("user-1-alias", "user-1")
    for i in range(25):
        ph.capture("batched", distinct_id="user-1", properties={"i": i})
    ph.flush()
    ph.shutdown()

    events = wait_for(
        lambda: (e := all_events(server.url, project.secret_key)) and len(e) >= 31 and e, 20
    )
    assert len(events) == 31
    assert len({e["uuid"] for e in events}) == 31
    assert sorted(e["properties"]["i"] for e in events if e["event"] == "batched") == list(
        range(25)
    )
    person = _person(http, project, "user-1")
    assert set(person["distinct_ids"]) == {"anon-1", "user-1", "user-1-alias"}
    assert person["properties"]["email"] == "u1@example.com"
    assert person["properties"]["name"] == "Ada"
    assert person["properties"]["first_seen"] == "monday"
    # Every event, including those captured while anonymous, names the identified person.
    assert {e["person_id"] for e in events} == {person["id"]}
    assert _person(http, project, "anon-1")["id"] == person["id"]
    assert _person(http, project, "user-1-alias")["id"] == person["id"]
