"""Ingest's read contract: the analytics.*_v1 views other services read, column for column.

A failure here means a change would break readers in other services: add a `_v2` view instead.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.support import Stack

CONTRACT = {
    "events_v1": [
        ("project_id", "bigint"),
        ("uuid", "uuid"),
        ("event", "text"),
        ("distinct_id", "text"),
        ("person_id", "uuid"),
        ("timestamp", "timestamp with time zone"),
        ("properties", "jsonb"),
        ("inserted_at", "timestamp with time zone"),
    ],
    "persons_v1": [
        ("project_id", "bigint"),
        ("id", "uuid"),
        ("properties", "jsonb"),
        ("is_identified", "boolean"),
        ("created_at", "timestamp with time zone"),
    ],
    "person_distinct_ids_v1": [
        ("project_id", "bigint"),
        ("distinct_id", "text"),
        ("person_id", "uuid"),
    ],
    "person_merges_v1": [
        ("project_id", "bigint"),
        ("source_person_id", "uuid"),
        ("target_person_id", "uuid"),
        ("merged_at", "timestamp with time zone"),
    ],
    "groups_v1": [
        ("project_id", "bigint"),
        ("group_type", "text"),
        ("group_key", "text"),
        ("properties", "jsonb"),
        ("created_at", "timestamp with time zone"),
    ],
    "events_hourly_v1": [
        ("project_id", "bigint"),
        ("event", "text"),
        ("hour", "timestamp with time zone"),
        ("count", "bigint"),
    ],
}


def columns(url: str, view: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'analytics' AND table_name = %s ORDER BY ordinal_position",
            (view,),
        ).fetchall()
    return [(name, kind) for name, kind in rows]


@pytest.mark.parametrize("view", sorted(CONTRACT))
def test_view_has_exactly_the_contracted_columns(stack: Stack, view: str) -> None:
    assert columns(stack.database_url, view) == CONTRACT[view]


def test_the_contract_is_every_view_in_the_schema(stack: Stack) -> None:
    with psycopg.connect(stack.database_url) as conn:
        views = conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics'"
        ).fetchall()
    assert sorted(v for (v,) in views) == sorted(CONTRACT)
