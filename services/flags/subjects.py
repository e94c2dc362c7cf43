"""A per-process cache of what evaluation reads about its subjects (people and groups).

The persons projection announces every change on ``persons.changed.<project>`` after it
commits; each instance drops the cached person on that message, so ``/flags`` sees an
``$identify`` as soon as it is stored. Entries also expire (``PERSON_TTL_S``), which bounds the
staleness if a notification is ever lost (the writer publishes them best effort after commit).
Groups have no change notifications, so their entries live only ``GROUP_TTL_S``.

A read racing an invalidation must not put the old state back: each key has a generation that
the invalidation moves, and a read stores its result only if the generation did not move.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.persons import PersonChanged, PersonsMessage
from services.flags import repo

if TYPE_CHECKING:
    from services.core.db import Pool

log = logging.getLogger("devflow.flags")
PERSON_TTL_S = 5.0
GROUP_TTL_S = 1.0
MAX_ENTRIES = 200_000
_decoder = msgspec.json.Decoder(PersonsMessage)

PersonKey = tuple[int, str]
GroupKey = tuple[int, str, str]


class _Person(msgspec.Struct, frozen=True):
    expires: float
    properties: dict[str, Any] | None
    traits: dict[str, Any] | None
    # None when membership was not read (the project had no static cohorts then).
    static_cohorts: list[str] | None


class _Group(msgspec.Struct, frozen=True):
    expires: float
    properties: dict[str, Any] | None
    traits: dict[str, Any] | None


class SubjectCache:
    """The per-process cache of subjects, invalidated by person and trait messages."""

    def __init__(self) -> None:
        self._revisions: dict[int, int] = {}
        self._persons: dict[PersonKey, _Person] = {}
        self._groups: dict[GroupKey, _Group] = {}
        self._generations: dict[PersonKey, int] = {}

    async def subject(
        self,
        pool: Pool,
        project_id: int,
        distinct_id: str,
        groups: dict[str, str],
        *,
        static_cohorts: bool,
        revision: int,
    ) -> repo.Subject:
        """``revision`` is the definitions revision evaluated against: when it moves (a cohort
        changed, say), everything cached about the project is dropped."""
        if self._revisions.get(project_id) != revision:
            self.forget_project(project_id)
            self._revisions[project_id] = revision
        now = time.monotonic()
        key = (project_id, distinct_id)
        person = self._persons.get(key)
        if person is not None and (
            person.expires < now or (static_cohorts and person.static_cohorts is None)
        ):
            person = None
        missing = {
            t: k
            for t, k in groups.items()
            if (g := self._groups.get((project_id, t, k))) is None or g.expires < now
        }
        if person is None or missing:
            generation = self._generations.get(key, 0)
            async with pool.connection() as conn:
                fresh = await repo.select_subject(
                    conn,
                    project_id,
                    distinct_id,
                    missing,
                    static_cohorts=static_cohorts,
                    person=person is None,
                )
            self._trim()
            if person is None:
                person = _Person(
                    now + PERSON_TTL_S,
                    fresh.person_properties,
                    fresh.person_traits,
                    fresh.static_cohorts if static_cohorts else None,
                )
                if self._generations.get(key, 0) == generation:
                    self._persons[key] = person
            for group_type, group_key in missing.items():
                self._groups[project_id, group_type, group_key] = _Group(
                    now + GROUP_TTL_S,
                    (fresh.group_properties or {}).get(group_type),
                    (fresh.group_traits or {}).get(group_type),
                )
        group_props: dict[str, dict[str, Any]] = {}
        group_traits: dict[str, dict[str, Any]] = {}
        for group_type, group_key in groups.items():
            g = self._groups.get((project_id, group_type, group_key))
            if g is not None:
                if g.properties is not None:
                    group_props[group_type] = g.properties
                if g.traits is not None:
                    group_traits[group_type] = g.traits
        return repo.Subject(
            person_properties=person.properties,
            static_cohorts=person.static_cohorts or [],
            person_traits=person.traits,
            group_properties=group_props,
            group_traits=group_traits,
        )

    def forget_person(self, project_id: int, distinct_ids: list[str]) -> None:
        """Drop the cached person of each distinct id and move its generation."""
        for distinct_id in distinct_ids:
            key = (project_id, distinct_id)
            self._generations[key] = self._generations.get(key, 0) + 1
            self._persons.pop(key, None)

    def forget_project(self, project_id: int) -> None:
        """Everything about the project: after a merge, a cohort or a trait change."""
        for key in [k for k in self._persons if k[0] == project_id]:
            self._generations[key] = self._generations.get(key, 0) + 1
            del self._persons[key]
        for gkey in [k for k in self._groups if k[0] == project_id]:
            del self._groups[gkey]

    async def on_traits_changed(self, subject: str, _data: bytes) -> None:
        """Handle ``flags.traits.<project>``: drop everything cached about the project."""
        project = subject.rsplit(".", 1)[-1]
        if project.isdigit():
            self.forget_project(int(project))

    async def on_persons_changed(self, _subject: str, data: bytes) -> None:
        """Handle ``persons.changed.<project>``: drop the changed people, or the project's
        people after a merge.
        """
        try:
            message = _decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("undecodable persons.changed message ignored")
            return
        if isinstance(message, PersonChanged):
            self.forget_person(message.project_id, message.distinct_ids)
        else:  # a merge moves distinct ids between people: drop the project's people
            self.forget_project(message.project_id)

    def _trim(self) -> None:
        if len(self._persons) > MAX_ENTRIES or len(self._groups) > MAX_ENTRIES:
            self._persons.clear()
            self._groups.clear()
        if len(self._generations) > 4 * MAX_ENTRIES:
            # Only keys with a read in flight need their generation; a rare lost comparison
            # costs one entry cached until its TTL.
            self._generations.clear()
