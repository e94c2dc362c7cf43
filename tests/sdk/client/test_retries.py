"""What the sender does with each kind of failure, at the network boundary (``Front``)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.sdk.client.conftest import ClientFactory
from tests.sdk.client.front import Reply, Seen, problem
from tests.support import Server, all_events, wait_for


def _events(server: Server, project: Any, n: int) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (e := all_events(server.url, project.secret_key)) and len(e) >= n and e, 30
    )


def _uuids(seen: Seen) -> list[str]:
    return [e["uuid"] for e in seen.json()["batch"]]


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured_and_the_batch_resent_with_the_same_uuids(
    status: int, server: Server, project: Any, make_client: ClientFactory, front_of: Any
) -> None:
    front = front_of(server.url)
    answers = itertools.chain(
        [
            problem(status, {"Retry-After": "1"}, detail="busy"),
            Reply(status, b"", {"Retry-After": "1"}),
        ],
        itertools.repeat(None),
    )
    front.script = lambda _: next(answers)
    client = make_client(front.url, project.token)
    sent = [client.capture("retried", "u", {"i": i}) for i in range(5)]
    assert client.flush(30)
    first, second, third = front.requests()[:3]
    assert [first.status, second.status, third.status] == [status, status, 200]
    assert _uuids(first) == _uuids(second) == _uuids(third) == sent
    # Retry-After: 1 was honoured (a lower bound, so not a timing-dependent assertion).
    assert second.at - first.at >= 1.0
    events = _events(server, project, 5)
    assert sorted(e["uuid"] for e in events) == sorted(sent)
    stats = client.stats
    assert (stats.sent, stats.retries, stats.requests) == (5, 2, 3)


def test_backoff_without_retry_after_then_delivery(
    server: Server, project: Any, make_client: ClientFactory, front_of: Any
) -> None:
    front = front_of(server.url)
    answers = itertools.chain([Reply(500), Reply(502), Reply(504)], itertools.repeat(None))
    front.script = lambda _: next(answers)
    client = make_client(front.url, project.token, max_backoff=0.5)
    client.capture("after_backoff", "u")
    assert client.flush(30)
    statuses = [r.status for r in front.requests()]
    assert statuses == [500, 502, 504, 200]
    assert client.stats.retries == 3
    _events(server, project, 1)


def test_partial_400_keeps_the_good_events_and_does_not_resend(
    server: Server, project: Any, make_client: ClientFactory, front_of: Any
) -> None:
    """The real server refuses two events of the batch; the other eight are stored once."""
    front = front_of(server.url)
    client = make_client(front.url, project.token, flush_at=10, flush_interval=5)
    good = []
    for i in range(10):
        if i == 3:
            client.capture("bad_time", "u", timestamp="not a date")
        elif i == 7:
            client.capture("bad_nul", "u", {"text": "a\u0000b"})
        else:
            good.append(client.capture("good", "u", {"i": i}))
    assert client.flush(30)
    (request,) = front.requests()  # one request, nothing resent
    assert request.status == 400
    assert len(request.json()["batch"]) == 10
    events = _events(server, project, 8)
    assert sorted(e["uuid"] for e in events) == sorted(good)
    stats = client.stats
    assert (stats.sent, stats.rejected, stats.retries) == (8, 2, 0)


def test_a_batch_refused_as_a_whole_is_halved_until_the_culprit_is_alone(
    server: Server, project: Any, make_client: ClientFactory, front_of: Any
) -> None:
    """A 413 (or an unreadable-request 400) names no event: the sender bisects the batch."""
    front = front_of(server.url)

    def script(seen: Seen) -> Reply | None:
        names = [e["event"] for e in seen.json()["batch"]]
        if "poison" in names:
            return problem(413, detail="too large")
        return None

    front.script = script
    client = make_client(front.url, project.token, flush_at=16, flush_interval=5)
    good = []
    for i in range(16):
        if i == 11:
            client.capture("poison", "u")
        else:
            good.append(client.capture("good", "u", {"i": i}))
    assert client.flush(30)
    events = _events(server, project, 15)
    assert sorted(e["uuid"] for e in events) == sorted(good)
    stats = client.stats
    assert (stats.sent, stats.rejected) == (15, 1)
    assert "413" in (stats.last_error or "")
    # Bisection: 16 -> 8 -> 4 -> 2 -> 1, never a good event sent twice.
    delivered = [u for r in front.requests() if r.status == 200 for u in _uuids(r)]
    assert sorted(delivered) == sorted(good)
    assert len(front.requests()) <= 10


def test_partial_rejections_are_logged_with_the_event(
    server: Server, project: Any, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server.url, project.token)
    uid = client.capture("bad_uuid_time", "u", timestamp="yesterday")
    assert client.flush(30)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused 1 of 1" in text
    assert uid in text
    assert "timestamp" in text


def test_problem_bodies_name_fields(front_of: Any, make_client: ClientFactory) -> None:
    """A scripted partial 400 using ``rejected`` only (no ``errors``) is understood too."""
    front = front_of()
    front.script = lambda seen: (
        problem(400, rejected=[0], accepted=len(seen.json()["batch"]) - 1)
        if len(seen.json()["batch"]) > 1
        else None
    )
    client = make_client(front.url, "phc_x", flush_at=3, flush_interval=5)
    for i in range(3):
        client.capture("e", "u", {"i": i})
    assert client.flush(30)
    assert (client.stats.sent, client.stats.rejected) == (2, 1)
    assert json.loads(front.requests()[0].body)["api_key"] == "phc_x"
