"""The persons projection, applied by the writer to the events it newly stores.

PostHog's rules: every distinct id belongs to exactly one person; ``$identify`` (with
``$anon_distinct_id``) and ``$create_alias`` (with ``alias``) join two distinct ids, merging their
persons when both exist, unless the id is one SDKs send by mistake (``anonymous``, ``null`` …) or
the person that would disappear is already identified. ``$set``, ``$set_once`` and ``$unset`` update
properties; ``$groupidentify`` upserts a group. A batch is processed in memory, in event order, and
written back with a handful of set-based statements.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.persons import PersonChanged, PersonsMerged
from services.ingest import repo

if TYPE_CHECKING:
    from datetime import datetime

ILLEGAL_IDS = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
        "null",
        "none",
        "nan",
        "0",
        "[object object]",
        "",
    }
)


@dataclass
class PersonEvent:
    """The part of a new event the persons projection reads."""

    distinct_id: str
    event: str
    timestamp: datetime
    properties: dict[str, Any]


@dataclass
class _Person:
    id: str
    # JSON as loaded. Most events never touch their person's properties, so they are decoded
    # only when used.
    properties_json: str
    is_identified: bool
    created_at: datetime
    version: int
    is_new: bool = False
    dirty: bool = False
    distinct_ids: set[str] = field(default_factory=set)
    _properties: dict[str, Any] | None = None

    @property
    def properties(self) -> dict[str, Any]:
        """The properties, decoded on first use."""
        if self._properties is None:
            decoded = msgspec.json.decode(self.properties_json)
            self._properties = decoded if isinstance(decoded, dict) else {}
        return self._properties

    @properties.setter
    def properties(self, value: dict[str, Any]) -> None:
        """Replace the properties (a merge's union)."""
        self._properties = value


@dataclass
class Outcome:
    """Each event's person id, in event order, and the person messages to publish."""

    person_ids: list[str]
    messages: list[PersonChanged | PersonsMerged]


def is_legal_id(distinct_id: str) -> bool:
    """False for the placeholder ids SDKs send by mistake (``anonymous``, ``null`` ...)."""
    return distinct_id.strip().lower() not in ILLEGAL_IDS


class _Batch:
    def __init__(self, project_id: int, loaded: list[repo.PersonRow]) -> None:
        self.project_id = project_id
        self.by_distinct: dict[str, _Person] = {}
        self.persons: dict[str, _Person] = {}
        self.new_ids: dict[str, str] = {}  # distinct id -> person id, to insert or re-point
        self.merged: list[tuple[str, str]] = []  # (source, target)
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}
        for row in loaded:
            person = self.persons.get(row.person_id)
            if person is None:
                person = _Person(
                    row.person_id,
                    row.properties_json,
                    row.is_identified,
                    row.created_at,
                    row.version,
                )
                self.persons[row.person_id] = person
            person.distinct_ids.add(row.distinct_id)
            self.by_distinct[row.distinct_id] = person

    def person_for(self, distinct_id: str, when: datetime) -> _Person:
        """The person ``distinct_id`` belongs to; a new one (created ``when``) if it has none."""
        person = self.by_distinct.get(distinct_id)
        if person is None:
            person = _Person(str(uuidlib.uuid4()), "{}", False, when, 0, is_new=True, dirty=True)
            self.persons[person.id] = person
            self._attach(distinct_id, person)
        return person

    def _attach(self, distinct_id: str, person: _Person) -> None:
        self.by_distinct[distinct_id] = person
        person.distinct_ids.add(distinct_id)
        self.new_ids[distinct_id] = person.id

    def join(self, target_id: str, other_id: str, when: datetime, identify: bool) -> None:
        """Make ``other_id`` (the anonymous id or alias) belong to ``target_id``'s person."""
        if other_id == target_id or not is_legal_id(other_id) or not is_legal_id(target_id):
            return
        target = self.by_distinct.get(target_id)
        other = self.by_distinct.get(other_id)
        if target is None and other is None:
            target = self.person_for(target_id, when)
            self._attach(other_id, target)
        elif target is None:
            assert other is not None
            self._attach(target_id, other)
            target = other
        elif other is None:
            self._attach(other_id, target)
        elif other is not target:
            if other.is_identified:
                return  # never swallow a person someone already identified
            self._merge(other, target)
        if identify and not target.is_identified:
            target.is_identified = True
            target.dirty = True

    def _merge(self, source: _Person, target: _Person) -> None:
        target.properties = {**source.properties, **target.properties}
        target.created_at = min(target.created_at, source.created_at)
        for distinct_id in source.distinct_ids:
            self._attach(distinct_id, target)
        source.distinct_ids.clear()
        target.dirty = True
        del self.persons[source.id]
        if not source.is_new:
            self.merged.append((source.id, target.id))

    def update_properties(self, person: _Person, props: dict[str, Any]) -> None:
        """Apply the event's ``$set``, ``$set_once`` and ``$unset``; changes mark it dirty."""
        changed = False
        set_ = props.get("$set")
        if isinstance(set_, dict) and set_:
            for key, value in set_.items():
                if person.properties.get(key, _MISSING) != value:
                    person.properties[key] = value
                    changed = True
        set_once = props.get("$set_once")
        if isinstance(set_once, dict):
            for key, value in set_once.items():
                if key not in person.properties:
                    person.properties[key] = value
                    changed = True
        unset = props.get("$unset")
        if isinstance(unset, dict):
            unset = list(unset)
        if isinstance(unset, list):
            for key in unset:
                if isinstance(key, str) and key in person.properties:
                    del person.properties[key]
                    changed = True
        if changed:
            person.dirty = True


_MISSING = object()


def _str(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    return text or None


async def apply(conn: repo.Conn, project_id: int, events: list[PersonEvent]) -> Outcome:
    """Apply a batch of one project's new events to its persons; return each event's person id."""
    wanted = {e.distinct_id for e in events}
    for e in events:
        if e.event == "$identify" and (anon := _str(e.properties.get("$anon_distinct_id"))):
            wanted.add(anon)
        elif e.event == "$create_alias" and (alias := _str(e.properties.get("alias"))):
            wanted.add(alias)
    await repo.lock_persons(conn, project_id)
    batch = _Batch(project_id, await repo.load_persons(conn, project_id, sorted(wanted)))
    person_ids: list[str] = []
    for e in events:
        if e.event == "$identify":
            anon = _str(e.properties.get("$anon_distinct_id"))
            if anon:
                batch.join(e.distinct_id, anon, e.timestamp, identify=True)
            else:
                person = batch.person_for(e.distinct_id, e.timestamp)
                if not person.is_identified and is_legal_id(e.distinct_id):
                    person.is_identified = person.dirty = True
        elif e.event == "$create_alias":
            alias = _str(e.properties.get("alias"))
            if alias:
                batch.join(e.distinct_id, alias, e.timestamp, identify=False)
        elif e.event == "$groupidentify":
            _group(batch, e.properties)
        person = batch.person_for(e.distinct_id, e.timestamp)
        batch.update_properties(person, e.properties)
        person_ids.append(person.id)
    # A person merged away later in the batch: its events name the survivor.
    survivors = {d: p.id for d, p in batch.by_distinct.items()}
    person_ids = [survivors[e.distinct_id] for e in events]
    return Outcome(person_ids, await _write(conn, batch))


def _group(batch: _Batch, props: dict[str, Any]) -> None:
    group_type = _str(props.get("$group_type"))
    group_key = _str(props.get("$group_key"))
    if not group_type or not group_key:
        return
    group_set = props.get("$group_set")
    current = batch.groups.setdefault((group_type, group_key), {})
    if isinstance(group_set, dict):
        current.update(group_set)


async def _write(conn: repo.Conn, batch: _Batch) -> list[PersonChanged | PersonsMerged]:
    pid = batch.project_id
    dirty = [p for p in batch.persons.values() if p.dirty]
    await repo.insert_persons(
        conn,
        pid,
        [(p.id, _json(p.properties), p.is_identified, p.created_at) for p in dirty if p.is_new],
    )
    await repo.update_persons(
        conn,
        [(p.id, _json(p.properties), p.is_identified, p.created_at) for p in dirty if not p.is_new],
    )
    await repo.upsert_distinct_ids(conn, pid, list(batch.new_ids.items()))
    if batch.merged:
        await repo.record_merges(conn, pid, batch.merged)
    if batch.groups:
        await repo.upsert_groups(
            conn, pid, [(t, k, _json(v)) for (t, k), v in batch.groups.items()]
        )
    messages: list[PersonChanged | PersonsMerged] = [
        PersonsMerged(pid, source, target) for source, target in batch.merged
    ]
    if dirty:
        all_ids = await repo.distinct_ids_of(conn, [p.id for p in dirty])
        messages += [
            PersonChanged(
                project_id=pid,
                person_id=p.id,
                distinct_ids=sorted(all_ids.get(p.id, p.distinct_ids)),
                properties=p.properties,
                version=p.version + 1,
            )
            for p in dirty
        ]
    return messages


def _json(value: dict[str, Any]) -> str:
    return msgspec.json.encode(value).decode()
