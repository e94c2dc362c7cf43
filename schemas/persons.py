"""Persons projection changes, published on ``persons.changed.<project>`` for other services."""

from __future__ import annotations

from typing import Any

import msgspec


class PersonChanged(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="person.changed", tag_field="type"
):
    project_id: int
    person_id: str
    distinct_ids: list[str]
    properties: dict[str, Any]
    version: int


class PersonsMerged(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="person.merged", tag_field="type"
):
    project_id: int
    source_person_id: str
    target_person_id: str


PersonsMessage = PersonChanged | PersonsMerged
