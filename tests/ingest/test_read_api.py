"""The read API: ``GET /api/events`` (filters, ordering, cursor pagination) and
``GET /api/persons/{distinct_id}``, with malformed, missing, oversized and unauthorized input.

Every 4xx must be a problem+json body naming the field at fault.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest

from tests.support import Server, Stack, all_events, wait_for

BASE = datetime(2024, 2, 1, tzinfo=UTC)
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Seed:
    project: Any
    # (uuid, event, distinct_id, timestamp), newest first as the API must return them.
    expected: list[tuple[str, str, str, datetime]]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.project.secret_key}"}

    def uuids(self, **where: Any) -> list[str]:
        rows = self.expected
        if "event" in where:
            rows = [r for r in rows if r[1] == where["event"]]
        if "distinct_id" in where:
            rows = [r for r in rows if r[2] == where["distinct_id"]]
        if "after" in where:
            rows = [r for r in rows if r[3] >= where["after"]]
        if "before" in where:
            rows = [r for r in rows if r[3] < where["before"]]
        return [r[0] for r in rows]


SPEC = [
    ("$pageview", "alice", 0),
    ("$pageview", "bob", 1),
    ("click", "alice", 2),
    ("click", "bob", 2),  # same time as the previous one: the uuid breaks the tie
    ("signup", "alice", 3),
    ("$pageview", "alice", 4),
    ("tie", "carol", 5),
    ("tie", "carol", 5),
    ("tie", "carol", 5),
]


@pytest.fixture(scope="module")
def seed(stack: Stack, server: Server) -> Seed:
    """One project with a known set of events and persons, shared by the read-only tests."""
    project = stack.project("read-api")
    rows = [(str(uuid.uuid4()), name, who, BASE + timedelta(hours=h)) for name, who, h in SPEC]
    batch: list[dict[str, Any]] = [
        {
            "uuid": u,
            "event": name,
            "distinct_id": who,
            "timestamp": ts.isoformat(),
            "properties": {"n": i},
        }
        for i, (u, name, who, ts) in enumerate(rows)
    ]
    batch[0]["properties"]["$set"] = {"email": "alice@example.com"}
    batch[4]["properties"]["$set_once"] = {"plan": "free"}
    res = httpx.post(f"{server.url}/batch", json={"api_key": project.token, "batch": batch})
    assert res.status_code == 200, res.text
    wait_for(lambda: len(all_events(server.url, project.secret_key)) == len(rows))
    # Newest first; ties by uuid, descending (PostgreSQL orders uuids like their hex text).
    expected = sorted(rows, key=lambda r: (r[3], r[0]), reverse=True)
    return Seed(project, expected)


def _get(server: Server, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, headers=headers, timeout=30)


def _page(server: Server, seed: Seed, **params: Any) -> dict[str, Any]:
    res = _get(server, "/api/events", seed.headers, **params)
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def _problem(res: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = res.json()
    assert body["status"] == status
    assert field in [e["field"] for e in body.get("errors") or []], body
    return body


# --- events: shape, order, filters ----------------------------------------------------------------


def test_events_page_shape_and_newest_first_order(server: Server, seed: Seed) -> None:
    page = _page(server, seed)
    assert set(page) == {"results", "next_cursor"}
    assert page["next_cursor"] is None
    assert [e["uuid"] for e in page["results"]] == seed.uuids()
    for event, (u, name, who, ts) in zip(page["results"], seed.expected, strict=True):
        assert set(event) == {
            "uuid",
            "event",
            "distinct_id",
            "person_id",
            "timestamp",
            "properties",
        }
        assert (event["uuid"], event["event"], event["distinct_id"]) == (u, name, who)
        assert datetime.fromisoformat(event["timestamp"]) == ts
        assert isinstance(event["properties"]["n"], int)
        uuid.UUID(event["person_id"])


def test_person_ids_on_events_match_the_persons_api(server: Server, seed: Seed) -> None:
    events = _page(server, seed)["results"]
    for who in ("alice", "bob", "carol"):
        person = _get(server, f"/api/persons/{who}", seed.headers).json()
        assert {e["person_id"] for e in events if e["distinct_id"] == who} == {person["id"]}


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"event": "click"}, id="event"),
        pytest.param({"event": "$pageview"}, id="event-with-dollar"),
        pytest.param({"distinct_id": "alice"}, id="distinct_id"),
        pytest.param({"event": "$pageview", "distinct_id": "alice"}, id="event-and-distinct_id"),
        pytest.param({"after": BASE + timedelta(hours=2)}, id="after-is-inclusive"),
        pytest.param({"before": BASE + timedelta(hours=2)}, id="before-is-exclusive"),
        pytest.param(
            {"after": BASE + timedelta(hours=1), "before": BASE + timedelta(hours=4)},
            id="between",
        ),
        pytest.param(
            {"distinct_id": "alice", "after": BASE + timedelta(minutes=1)}, id="who-and-after"
        ),
        pytest.param({"event": "never-sent"}, id="no-match"),
        pytest.param(
            {"after": BASE + timedelta(hours=4), "before": BASE + timedelta(hours=1)},
            id="empty-range",
        ),
    ],
)
def test_filters(where: dict[str, Any], server: Server, seed: Seed) -> None:
    params = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in where.items()}
    page = _page(server, seed, **params)
    assert [e["uuid"] for e in page["results"]] == seed.uuids(**where)
    assert page["next_cursor"] is None


def test_time_filters_accept_other_zones_and_naive_utc(server: Server, seed: Seed) -> None:
    two_utc = BASE + timedelta(hours=2)
    expected = seed.uuids(after=two_utc)
    assert [
        e["uuid"] for e in _page(server, seed, after="2024-02-01T03:00:00+01:00")["results"]
    ] == expected
    assert [
        e["uuid"] for e in _page(server, seed, after="2024-02-01T02:00:00")["results"]
    ] == expected


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 8, 9, 10])
def test_cursor_pagination_walks_every_event_once_in_order(
    limit: int, server: Server, seed: Seed
) -> None:
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(20):
        page = _page(server, seed, limit=limit, **({"cursor": cursor} if cursor else {}))
        seen += [e["uuid"] for e in page["results"]]
        sizes.append(len(page["results"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == seed.uuids()
    # Full pages, then the remainder; no empty page at the end.
    total = len(seed.expected)
    assert sizes == [limit] * (total // limit) + ([total % limit] if total % limit else [])


def test_cursor_pagination_with_filters(server: Server, seed: Seed) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"distinct_id": "alice", "limit": 1}
    while True:
        page = _page(server, seed, **params)
        seen += [e["uuid"] for e in page["results"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == seed.uuids(distinct_id="alice")


def test_limit_bounds(server: Server, project: Any, http: httpx.Client) -> None:
    batch = [{"event": "many", "distinct_id": "d", "properties": {"i": i}} for i in range(101)]
    assert http.post("/batch", json={"api_key": project.token, "batch": batch}).status_code == 200
    wait_for(lambda: len(all_events(server.url, project.secret_key)) == 101)
    headers = {"Authorization": f"Bearer {project.secret_key}"}
    default = _get(server, "/api/events", headers).json()
    assert len(default["results"]) == 100  # the default page
    assert default["next_cursor"]
    rest = _get(server, "/api/events", headers, cursor=default["next_cursor"]).json()
    assert (len(rest["results"]), rest["next_cursor"]) == (1, None)
    biggest = _get(server, "/api/events", headers, limit=1000).json()
    assert (len(biggest["results"]), biggest["next_cursor"]) == (101, None)


# --- events: malformed input ----------------------------------------------------------------------


def _cursor(*fields: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.msgpack.encode(list(fields))).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": "abc"}, "limit", id="limit-not-a-number"),
        pytest.param({"limit": "1.5"}, "limit", id="limit-fraction"),
        pytest.param({"limit": ""}, "limit", id="limit-empty"),
        pytest.param({"limit": "0"}, "limit", id="limit-zero"),
        pytest.param({"limit": "-5"}, "limit", id="limit-negative"),
        pytest.param({"limit": "1001"}, "limit", id="limit-above-max"),
        pytest.param({"limit": str(10**30)}, "limit", id="limit-huge"),
        pytest.param({"cursor": "not-a-cursor"}, "cursor", id="cursor-garbage"),
        pytest.param({"cursor": "é"}, "cursor", id="cursor-non-ascii"),
        pytest.param({"cursor": "a"}, "cursor", id="cursor-bad-padding"),
        pytest.param(
            {"cursor": _cursor("yesterday", str(uuid.uuid4()))}, "cursor", id="cursor-bad-time"
        ),
        pytest.param({"cursor": _cursor(1, 2, 3)}, "cursor", id="cursor-wrong-shape"),
        pytest.param({"after": "nope"}, "after", id="after-not-a-date"),
        pytest.param({"after": "2024-02-30T00:00:00Z"}, "after", id="after-impossible-date"),
        pytest.param({"before": "1700000000"}, "before", id="before-epoch-seconds"),
        pytest.param({"before": ""}, "before", id="before-empty"),
    ],
)
def test_malformed_query_is_a_400_naming_the_field(
    params: dict[str, str], field: str, server: Server, seed: Seed
) -> None:
    _problem(_get(server, "/api/events", seed.headers, **params), 400, field)


def test_a_cursor_with_a_bad_uuid_is_a_400(server: Server, seed: Seed) -> None:
    cursor = _cursor(datetime.now(UTC), "not-a-uuid")
    _problem(_get(server, "/api/events", seed.headers, cursor=cursor), 400, "cursor")


@pytest.mark.parametrize("field", ["event", "distinct_id"])
def test_a_filter_with_a_nul_is_a_400(field: str, server: Server, seed: Seed) -> None:
    _problem(_get(server, "/api/events", seed.headers, **{field: "a\x00b"}), 400, field)


# --- persons --------------------------------------------------------------------------------------


def test_person_by_distinct_id(server: Server, seed: Seed) -> None:
    res = _get(server, "/api/persons/alice", seed.headers)
    assert res.status_code == 200, res.text
    person = res.json()
    assert set(person) == {"id", "distinct_ids", "properties", "created_at"}
    uuid.UUID(person["id"])
    assert person["distinct_ids"] == ["alice"]
    assert person["properties"] == {"email": "alice@example.com", "plan": "free"}
    # created_at is the time of the person's first event.
    assert datetime.fromisoformat(person["created_at"]) == BASE


def test_unknown_person_is_a_404_naming_the_distinct_id(server: Server, seed: Seed) -> None:
    _problem(_get(server, "/api/persons/nobody-here", seed.headers), 404, "distinct_id")


@pytest.mark.usefixtures("seed")  # alice exists, in the seeded project
def test_a_person_of_another_project_is_not_found(server: Server, project: Any) -> None:
    headers = {"Authorization": f"Bearer {project.secret_key}"}
    _problem(_get(server, "/api/persons/alice", headers), 404, "distinct_id")


def test_distinct_ids_that_need_escaping(server: Server, project: Any, http: httpx.Client) -> None:
    ids = ["user@example.com", "with space", "ünï€ødé", "a+b?c=d&e", "100%", "#hash"]
    batch = [{"event": "e", "distinct_id": i} for i in ids]
    assert http.post("/batch", json={"api_key": project.token, "batch": batch}).status_code == 200
    wait_for(lambda: len(all_events(server.url, project.secret_key)) == len(ids))
    headers = {"Authorization": f"Bearer {project.secret_key}"}
    for distinct_id in ids:
        res = _get(server, "/api/persons/" + quote(distinct_id, safe=""), headers)
        assert res.status_code == 200, (distinct_id, res.text)
        assert res.json()["distinct_ids"] == [distinct_id]
        events = _get(server, "/api/events", headers, distinct_id=distinct_id).json()["results"]
        assert [e["distinct_id"] for e in events] == [distinct_id]


def test_a_distinct_id_with_a_slash_can_be_read(
    server: Server, project: Any, http: httpx.Client
) -> None:
    body = {"api_key": project.token, "event": "e", "distinct_id": "https://a.test/u/1"}
    assert http.post("/capture", json=body).status_code == 200
    wait_for(lambda: all_events(server.url, project.secret_key))
    headers = {"Authorization": f"Bearer {project.secret_key}"}
    res = _get(server, "/api/persons/https%3A%2F%2Fa.test%2Fu%2F1", headers)
    assert res.status_code == 200, res.text


def test_a_person_lookup_with_a_nul_is_a_4xx(server: Server, seed: Seed) -> None:
    res = _get(server, "/api/persons/a%00b", seed.headers)
    assert res.status_code in (400, 404), res.text
    _problem(res, res.status_code, "distinct_id")


# --- authorization --------------------------------------------------------------------------------

ENDPOINTS = ["/api/events", "/api/persons/alice"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("", id="empty-header"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Basic {secret}", id="wrong-scheme-basic"),
        pytest.param("Token {secret}", id="wrong-scheme-token"),
        pytest.param("{secret}", id="no-scheme"),
        pytest.param("Bearer phs_unknown_key", id="unknown-key"),
        pytest.param("Bearer {token}", id="project-token-is-not-a-secret-key"),
        pytest.param("Bearer {secret}x", id="key-with-extra-character"),
    ],
)
def test_reads_need_a_valid_secret_key(
    authorization: str | None, path: str, server: Server, seed: Seed
) -> None:
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(
            secret=seed.project.secret_key, token=seed.project.token
        )
    res = _get(server, path, headers)
    body = _problem(res, 401, "Authorization")
    assert seed.project.secret_key not in res.text
    assert "results" not in body


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_scheme_is_case_insensitive(scheme: str, server: Server, seed: Seed) -> None:
    headers = {"Authorization": f"{scheme} {seed.project.secret_key}"}
    assert _get(server, "/api/events", headers).status_code == 200


def test_another_projects_key_sees_only_its_own_events(
    server: Server, seed: Seed, project: Any, http: httpx.Client
) -> None:
    body = {"api_key": project.token, "event": "theirs", "distinct_id": "alice"}
    assert http.post("/capture", json=body).status_code == 200
    wait_for(lambda: all_events(server.url, project.secret_key))
    headers = {"Authorization": f"Bearer {project.secret_key}"}
    theirs = _get(server, "/api/events", headers).json()["results"]
    assert [e["event"] for e in theirs] == ["theirs"]
    # Filters and cursors can't reach across projects either.
    assert _get(server, "/api/events", headers, event="click").json()["results"] == []
    mine = _page(server, seed, limit=1)
    crossed = _get(server, "/api/events", headers, cursor=mine["next_cursor"]).json()
    assert crossed["results"] == []
    # The same distinct id is a different person in each project.
    their_alice = _get(server, "/api/persons/alice", headers).json()
    my_alice = _get(server, "/api/persons/alice", seed.headers).json()
    assert their_alice["id"] != my_alice["id"]
    assert their_alice["properties"] == {}
