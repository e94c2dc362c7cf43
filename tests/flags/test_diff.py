"""``services.flags.diff``: the leaf-by-leaf differences the history API shows, in process."""

from __future__ import annotations

import msgspec

from schemas.flags import DiffEntry
from services.flags.diff import diff


def _paths(entries: list[DiffEntry]) -> list[tuple[str, object, object]]:
    return [(e.path, e.before, e.after) for e in entries]


def test_equal_documents_have_no_difference() -> None:
    doc = {"key": "a", "filters": {"groups": [{"rollout_percentage": 10, "properties": []}]}}
    assert diff(doc, {**doc}) == []


def test_a_changed_leaf_is_named_by_its_path() -> None:
    before = {"filters": {"groups": [{"rollout_percentage": 10}]}}
    after = {"filters": {"groups": [{"rollout_percentage": 50}]}}
    assert _paths(diff(before, after)) == [("filters.groups[0].rollout_percentage", 10, 50)]


def test_added_and_removed_keys_and_list_items() -> None:
    before = {"a": 1, "gone": True, "list": [1, 2]}
    after = {"a": 1, "list": [1], "new": "x"}
    entries = diff(before, after)
    assert _paths(entries) == [
        ("gone", True, None),
        ("list[1]", 2, None),
        ("new", None, "x"),
    ]
    # On the wire a removal has no "after" and an addition no "before".
    removed, _, added = entries
    assert msgspec.json.encode(removed) == b'{"path":"gone","before":true}'
    assert msgspec.json.encode(added) == b'{"path":"new","after":"x"}'


def test_the_order_is_the_documents() -> None:
    before = {"z": 1, "a": 1}
    after = {"z": 2, "a": 2, "m": 0}
    assert [e.path for e in diff(before, after)] == ["z", "a", "m"]


def test_bool_and_int_differ_though_python_calls_them_equal() -> None:
    assert _paths(diff({"v": True}, {"v": 1})) == [("v", True, 1)]
    assert _paths(diff({"v": 0}, {"v": False})) == [("v", 0, False)]
    assert diff({"v": 1.0}, {"v": 1.0}) == []


def test_a_type_change_is_one_leaf() -> None:
    assert _paths(diff({"v": {"x": 1}}, {"v": [1]})) == [("v", {"x": 1}, [1])]
    assert _paths(diff({"v": None}, {"v": "s"})) == [("v", None, "s")]


def test_a_prefix_is_prepended_and_top_level_values_compare() -> None:
    assert _paths(diff({"x": 1}, {"x": 2}, "definition")) == [("definition.x", 1, 2)]
    assert _paths(diff([1], [1, 2])) == [("[1]", None, 2)]
    assert _paths(diff(1, 2)) == [("", 1, 2)]
