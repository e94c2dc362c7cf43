"""Evaluating flags: local results agree with the server's, only undecidable flags are asked
of ``/flags``, remote-only evaluation without a secret key, and exposures sent once per user,
flag and value into real ingestion."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
from devflow_sdk._flagsync import FLAG_NOT_FOUND, UNAVAILABLE

from tests.flags.factories import (
    admin,
    create,
    evaluate,
    multivariate_flag,
    property_flag,
    rollout_flag,
)
from tests.sdk.flags_client.proxy import Proxy
from tests.sdk.flags_client.support import ManagerFactory
from tests.support import Server, all_events, wait_for


def _capture(http: httpx.Client, project: Any, event: str, distinct_id: str, **props: Any) -> None:
    body = {"api_key": project.token, "event": event, "distinct_id": distinct_id}
    r = http.post("/capture/", json={**body, "properties": props})
    assert r.status_code == 200, r.text


def _flag_set(http: httpx.Client, project: Any) -> None:
    r = http.put("/api/group_types/0", json={"group_type": "company"}, headers=admin(project))
    assert r.status_code == 200, r.text
    create(http, project, rollout_flag("r37", 37))
    create(
        http,
        project,
        multivariate_flag("mv3", {"a": 34, "b": 33, "c": 33}, {"a": '{"n": 1}', "c": '"text"'}),
    )
    create(http, project, property_flag("gmail", "email", "gmail", operator="icontains"))
    create(http, project, property_flag("senior", "age", 30, operator="gte"))
    plan = {"key": "plan", "value": "pro", "operator": "exact", "type": "person"}
    create(
        http,
        project,
        {
            "key": "two",
            "filters": {
                "groups": [
                    {"properties": [plan], "rollout_percentage": 100},
                    {"properties": [], "rollout_percentage": 20},
                ]
            },
        },
    )
    create(http, project, rollout_flag("off", 100, active=False))
    seats = {
        "key": "seats",
        "value": 100,
        "operator": "gte",
        "type": "group",
        "group_type_index": 0,
    }
    create(
        http,
        project,
        {
            "key": "big-co",
            "filters": {
                "aggregation_group_type_index": 0,
                "groups": [{"properties": [seats], "rollout_percentage": 100}],
            },
        },
    )


def _subject(i: int) -> dict[str, Any]:
    return {
        "person_properties": {
            "email": f"u{i}@{'gmail.com' if i % 3 else 'acme.io'}",
            "age": 18 + i % 40,
            "plan": "pro" if i % 4 == 0 else "free",
        },
        "groups": {"company": f"co-{i % 7}"},
        "group_properties": {"company": {"seats": (i % 7) * 40}},
    }


def _remote_values(flags: dict[str, Any]) -> dict[str, Any]:
    return {
        k: f["variant"] if f["variant"] is not None else f["enabled"]
        for k, f in flags.items()
        if not f["failed"]
    }


def test_local_results_equal_remote_results_for_many_users(
    server: Server,
    http: httpx.Client,
    project: Any,
    proxy_to: Any,
    make_manager: ManagerFactory,
) -> None:
    _flag_set(http, project)
    proxy: Proxy = proxy_to(server.url)
    local = make_manager(proxy.url, project, flags_ready_timeout=10, stream=False)
    remote_only = make_manager(server.url, project, secret=False)
    assert local.ready
    assert remote_only.ready
    seen: Counter[Any] = Counter()
    for i in range(300):
        user, subject = f"user-{i}", _subject(i)
        remote = evaluate(http, project, user, **subject)["flags"]
        ours = local.get_all_flags(user, **subject)
        assert ours == _remote_values(remote), user
        details = local.get_flag_details("mv3", user, send_exposure=False, **subject)
        assert details.locally_evaluated
        assert details.payload == remote["mv3"]["metadata"].get("payload")
        assert (details.flag_id, details.version) == (
            remote["mv3"]["metadata"]["id"],
            remote["mv3"]["metadata"]["version"],
        )
        if i % 10 == 0:
            assert remote_only.get_all_flags(user, **subject) == ours
            assert remote_only.get_flag("mv3", user, send_exposure=False) == ours["mv3"]
        seen.update(f"{k}={v}" for k, v in ours.items())
    # Every flag took more than one value across the users, so the agreement means something.
    for key in ("r37", "mv3", "gmail", "senior", "two", "big-co"):
        assert len([v for v in seen if v.startswith(f"{key}=")]) > 1, key
    assert proxy.requests("POST", "/flags") == 0  # everything was decidable locally


def test_only_undecidable_flags_are_asked_of_the_server(
    server: Server,
    http: httpx.Client,
    project: Any,
    proxy_to: Any,
    make_manager: ManagerFactory,
) -> None:
    create(http, project, property_flag("by-plan", "plan", "pro"))
    create(http, project, rollout_flag("everyone", 100))
    # The server knows this person's plan from an $identify; the caller won't pass it.
    _capture(http, project, "$identify", "stored-pro", **{"$set": {"plan": "pro"}})
    wait_for(lambda: evaluate(http, project, "stored-pro")["flags"]["by-plan"]["enabled"])
    proxy: Proxy = proxy_to(server.url)
    manager = make_manager(proxy.url, project, flags_ready_timeout=10, stream=False)
    posts = lambda: proxy.requests("POST", "/flags")  # noqa: E731

    assert manager.get_flag("everyone", "stored-pro") is True
    assert manager.get_flag("by-plan", "someone", person_properties={"plan": "pro"}) is True
    assert manager.get_flag("by-plan", "someone", person_properties={"plan": "free"}) is False
    assert manager.get_flag("missing", "someone") is None
    assert manager.get_flag_details("missing", "someone").error == FLAG_NOT_FOUND
    assert posts() == 0

    details = manager.get_flag_details("by-plan", "stored-pro")
    assert (details.value, details.locally_evaluated) == (True, False)
    assert details.request_id
    assert posts() == 1
    sent = json.loads(proxy.bodies[-1][1])
    assert sent["flag_keys_to_evaluate"] == ["by-plan"]
    assert sent["distinct_id"] == "stored-pro"

    # get_all_flags asks only for the undecidable ones, in one request.
    assert manager.get_all_flags("stored-pro") == {"by-plan": True, "everyone": True}
    assert posts() == 2
    assert json.loads(proxy.bodies[-1][1])["flag_keys_to_evaluate"] == ["by-plan"]
    assert manager.get_all_flags("x", person_properties={"plan": "free"}) == {
        "by-plan": False,
        "everyone": True,
    }
    assert posts() == 2

    # Without the fallback the undecidable flag has no answer, and nothing is sent.
    strict = make_manager(
        proxy.url, project, flags_ready_timeout=10, stream=False, remote_fallback=False
    )
    details = strict.get_flag_details("by-plan", "stored-pro")
    assert (details.value, details.error) == (None, UNAVAILABLE)
    assert "missing_context" in details.description or "Inconclusive" in details.description
    assert strict.get_all_flags("stored-pro") == {"everyone": True}
    assert posts() == 2


def test_remote_evaluation_without_a_secret_key(
    server: Server, http: httpx.Client, project: Any, proxy_to: Any, make_manager: ManagerFactory
) -> None:
    create(http, project, multivariate_flag("mv", {"a": 50, "b": 50}, {"a": "[1, 2]", "b": "3"}))
    proxy: Proxy = proxy_to(server.url)
    manager = make_manager(proxy.url, project, secret=False)
    assert manager.ready
    assert not manager.streaming
    for user in ("u1", "u2", "u3", "u4"):
        expected = evaluate(http, project, user)["flags"]["mv"]["variant"]
        assert manager.get_flag("mv", user) == expected
        assert manager.get_payload("mv", user) == ([1, 2] if expected == "a" else 3)
    assert manager.get_flag_details("nope", "u1").error == FLAG_NOT_FOUND
    assert proxy.requests("GET", "/flags/definitions") == 0
    assert proxy.requests("POST", "/flags") == 9


def test_exposures_arrive_once_per_user_flag_and_value(
    server: Server, http: httpx.Client, project: Any, make_manager: ManagerFactory
) -> None:
    create(http, project, rollout_flag("gate", 0))
    create(http, project, multivariate_flag("mv", {"a": 50, "b": 50}, {"a": '{"x": 1}'}))

    def capture(event: str, distinct_id: str, properties: dict[str, Any]) -> None:
        _capture(http, project, event, distinct_id, **properties)

    manager = make_manager(server.url, project, capture=capture, flags_ready_timeout=10)
    users = ["ann", "bob", "cyd"]
    for _ in range(3):
        for user in users:
            manager.get_flag("gate", user)
            manager.is_enabled("mv", user, groups={"company": "acme"})
    # Reads that never expose: payloads, get_all_flags, send_exposure=False.
    manager.get_payload("mv", "dan")
    manager.get_all_flags("dan")
    manager.get_flag("gate", "dan", send_exposure=False)
    # A new value is a new exposure.
    http.patch("/api/feature_flags/gate", json={"rollout_percentage": 100}, headers=admin(project))
    wait_for(lambda: manager.get_flag("gate", "ann", send_exposure=False) is True)
    for _ in range(2):
        manager.get_flag("gate", "ann")

    expected = 3 + 3 + 1

    def exposures() -> list[dict[str, Any]]:
        events = all_events(server.url, project.secret_key, event="$feature_flag_called")
        return events if len(events) >= expected else []

    events = wait_for(exposures)
    counts = Counter(
        (
            e["distinct_id"],
            e["properties"]["$feature_flag"],
            e["properties"]["$feature_flag_response"],
        )
        for e in events
    )
    assert set(counts.values()) == {1}, counts
    assert len(counts) == expected
    assert ("ann", "gate", False) in counts
    assert ("ann", "gate", True) in counts
    assert not any(d == "dan" for d, _, _ in counts)
    mv = next(e["properties"] for e in events if e["properties"]["$feature_flag"] == "mv")
    assert mv["locally_evaluated"] is True
    assert mv["$feature/mv"] == mv["$feature_flag_response"]
    assert mv["$feature_flag_id"]
    assert mv["$feature_flag_version"] == 1
    assert mv["$feature_flag_reason"]
    assert mv["$groups"] == {"company": "acme"}
    if mv["$feature_flag_response"] == "a":
        assert mv["$feature_flag_payload"] == '{"x": 1}'
