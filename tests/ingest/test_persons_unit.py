"""``services.ingest.persons`` in process, against a migrated database of its own: PostHog's
merge rules, property updates and the messages the writer publishes, one batch at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from schemas.persons import PersonChanged, PersonsMerged
from services.core.migrate import migrate
from services.core.projects import create_project
from services.ingest import persons, repo
from tests.ingest.factories import alias, ev, group_identify, identify, person_event
from tests.support import Servers, new_database

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def database(servers: Servers) -> Iterator[str]:
    url = new_database(servers.pg_url)
    migrate(url)
    return url


@pytest.fixture
async def conn(database: str) -> AsyncIterator[repo.Conn]:
    async with await psycopg.AsyncConnection.connect(database) as connection:
        yield connection


@pytest.fixture
def project_id(database: str) -> int:
    with psycopg.connect(database) as sync:
        return create_project(sync, "persons").id


async def apply(
    conn: repo.Conn, project_id: int, *events: dict[str, Any], start: datetime = T0
) -> persons.Outcome:
    """One writer batch: the events a second apart, in one committed transaction."""
    batch = [person_event(e, start + timedelta(seconds=i)) for i, e in enumerate(events)]
    async with conn.transaction():
        return await persons.apply(conn, project_id, batch)


async def people(conn: repo.Conn, project_id: int, *ids: str) -> dict[str, repo.PersonRow]:
    return {r.distinct_id: r for r in await repo.load_persons(conn, project_id, list(ids))}


def changed(outcome: persons.Outcome) -> dict[str, PersonChanged]:
    return {m.person_id: m for m in outcome.messages if isinstance(m, PersonChanged)}


async def test_a_new_distinct_id_gets_a_new_person(conn: repo.Conn, project_id: int) -> None:
    out = await apply(conn, project_id, ev("view", "a"), ev("view", "b"), ev("view", "a"))
    a, b, again = out.person_ids
    assert a == again != b
    rows = await people(conn, project_id, "a", "b")
    assert (rows["a"].person_id, rows["b"].person_id) == (a, b)
    assert rows["a"].created_at == T0
    assert not rows["a"].is_identified
    messages = changed(out)
    assert set(messages) == {a, b}
    assert messages[a].distinct_ids == ["a"]
    assert messages[a].version == 1


async def test_identify_merges_two_persons_and_names_the_survivor(
    conn: repo.Conn, project_id: int
) -> None:
    first = await apply(
        conn,
        project_id,
        ev("view", "anon", **{"$set": {"browser": "firefox", "plan": "free"}}),
        ev("view", "user", **{"$set": {"plan": "pro"}}),
    )
    anon_person, user_person = first.person_ids
    out = await apply(conn, project_id, identify("user", anon="anon"), start=T0 + timedelta(1))
    assert out.person_ids == [user_person]
    assert [m for m in out.messages if isinstance(m, PersonsMerged)] == [
        PersonsMerged(project_id, anon_person, user_person)
    ]
    survivor = changed(out)[user_person]
    assert survivor.distinct_ids == ["anon", "user"]
    assert survivor.properties == {"browser": "firefox", "plan": "pro"}  # the target's win
    assert survivor.version == 2
    rows = await people(conn, project_id, "anon", "user")
    assert {r.person_id for r in rows.values()} == {user_person}
    assert rows["user"].is_identified
    assert rows["user"].created_at == T0  # the earlier of the two


async def test_an_identified_person_is_never_swallowed(conn: repo.Conn, project_id: int) -> None:
    out = await apply(conn, project_id, identify("b"), identify("c"), alias("b", "c"))
    b, c, _ = out.person_ids
    assert b != c
    assert not [m for m in out.messages if isinstance(m, PersonsMerged)]
    rows = await people(conn, project_id, "b", "c")
    assert (rows["b"].person_id, rows["c"].person_id) == (b, c)
    assert rows["b"].is_identified  # $identify alone identifies a real id
    assert rows["c"].is_identified


@pytest.mark.parametrize(
    "placeholder", ["anonymous", "null", " NULL ", "undefined", "0", "[object Object]"]
)
async def test_placeholder_ids_never_join(
    conn: repo.Conn, project_id: int, placeholder: str
) -> None:
    await apply(conn, project_id, ev("view", placeholder))
    out = await apply(conn, project_id, identify("user", anon=placeholder))
    rows = await people(conn, project_id, placeholder, "user")
    assert rows[placeholder].person_id != rows["user"].person_id == out.person_ids[0]
    assert not persons.is_legal_id(placeholder)
    # A placeholder is never identified either.
    await apply(conn, project_id, identify(placeholder))
    assert not (await people(conn, project_id, placeholder))[placeholder].is_identified


async def test_alias_joins_a_new_id_to_an_existing_person(conn: repo.Conn, project_id: int) -> None:
    [existing] = (await apply(conn, project_id, ev("view", "user"))).person_ids
    out = await apply(conn, project_id, alias("user", "other-device"), ev("view", "other-device"))
    assert out.person_ids == [existing, existing]
    assert not (await people(conn, project_id, "user"))["user"].is_identified


async def test_events_before_a_merge_in_the_same_batch_name_the_survivor(
    conn: repo.Conn, project_id: int
) -> None:
    await apply(conn, project_id, ev("view", "anon"), ev("view", "user"))
    out = await apply(conn, project_id, ev("click", "anon"), identify("user", anon="anon"))
    assert len(set(out.person_ids)) == 1


async def test_set_set_once_and_unset(conn: repo.Conn, project_id: int) -> None:
    out = await apply(
        conn,
        project_id,
        ev("a", "p", **{"$set": {"x": 1, "y": 2, "z": 3}, "$set_once": {"first": "a"}}),
        ev("b", "p", **{"$set": {"x": 9}, "$set_once": {"first": "b"}, "$unset": ["y"]}),
        ev("c", "p", **{"$unset": {"z": None}}),  # a dict's keys, as some SDKs send it
    )
    [message] = changed(out).values()
    assert message.properties == {"x": 9, "first": "a"}
    # Nothing changes: nothing is written or published.
    again = await apply(conn, project_id, ev("d", "p", **{"$set": {"x": 9}, "$unset": ["nope"]}))
    assert again.messages == []


async def test_versions_count_the_changes_of_a_person(conn: repo.Conn, project_id: int) -> None:
    for expected in (1, 2, 3):
        out = await apply(conn, project_id, ev("e", "v", **{"$set": {"n": expected}}))
        [message] = changed(out).values()
        assert message.version == expected
    assert (await people(conn, project_id, "v"))["v"].version == 3


async def test_groupidentify_upserts_the_group(
    conn: repo.Conn, project_id: int, database: str
) -> None:
    await apply(conn, project_id, group_identify("company", "acme", seats=10, plan="pro"))
    await apply(conn, project_id, group_identify("company", "acme", seats=40))
    await apply(conn, project_id, ev("$groupidentify", "x", **{"$group_type": "company"}))
    with psycopg.connect(database) as sync:
        rows = sync.execute(
            "SELECT group_type, group_key, properties FROM groups WHERE project_id = %s",
            (project_id,),
        ).fetchall()
    assert rows == [("company", "acme", {"seats": 40, "plan": "pro"})]
