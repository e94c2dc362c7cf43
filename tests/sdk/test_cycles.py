"""dependencies() and find_dependency_cycle()."""

from __future__ import annotations

from typing import Any

from devflow_sdk.flags import dependencies, find_dependency_cycle, with_dependency_chains
from devflow_sdk.flags._cycles import dependency_chains


def _flag(flag_id: int, *refs: str) -> dict[str, Any]:
    props = [
        {"key": r, "type": "flag", "operator": "flag_evaluates_to", "value": True} for r in refs
    ]
    return {
        "id": flag_id,
        "filters": {"groups": [{"properties": props}, {"properties": [{"key": "x"}]}]},
    }


def test_dependencies_lists_referenced_ids_and_keys() -> None:
    assert dependencies(_flag(1, "2", "beta", "2")) == {"2", "beta"}
    assert dependencies({"filters": {"groups": [{"properties": [{"key": "email"}]}]}}) == set()
    assert dependencies({"filters": None}) == set()


def test_no_cycle() -> None:
    flags = {"a": _flag(1), "b": _flag(2, "1"), "c": _flag(3, "2", "a"), "d": _flag(4, "999")}
    assert find_dependency_cycle(flags) is None


def test_cycle_by_ids() -> None:
    flags = {"a": _flag(1, "2"), "b": _flag(2, "3"), "c": _flag(3, "1"), "d": _flag(4)}
    assert find_dependency_cycle(flags) == ["a", "b", "c", "a"]


def test_cycle_by_keys_and_self_reference() -> None:
    assert find_dependency_cycle({"a": _flag(1, "b"), "b": _flag(2, "a")}) == ["a", "b", "a"]
    assert find_dependency_cycle({"solo": _flag(1, "solo")}) == ["solo", "solo"]


def test_cycle_reachable_from_an_acyclic_start() -> None:
    flags = {"root": _flag(1, "2"), "x": _flag(2, "3"), "y": _flag(3, "2")}
    assert find_dependency_cycle(flags) == ["x", "y", "x"]


def test_an_id_wins_over_a_key_that_looks_like_it() -> None:
    # Flag "2" (a key) exists, but "2" as a reference means the flag whose id is 2.
    flags = {"2": _flag(10), "b": _flag(2, "2")}
    assert find_dependency_cycle(flags) == ["b", "b"]


def test_dependency_chains_like_posthog_serves_them() -> None:
    flags = {
        "a": _flag(1),
        "b": _flag(2),
        "c": _flag(3, "1", "2"),
        "d": _flag(4, "3"),
        "cyc1": _flag(5, "6"),
        "cyc2": _flag(6, "5"),
        "on-cycle": _flag(7, "5"),
        "missing": _flag(8, "404"),
    }
    chains = dependency_chains(flags)
    assert chains["a"] == ["a"]
    assert chains["c"] == ["a", "b", "c"]
    assert chains["d"] == ["a", "b", "c", "d"]
    assert chains["cyc1"] == chains["cyc2"] == chains["on-cycle"] == []
    assert chains["missing"] == []


def test_with_dependency_chains_serves_keys_and_chains() -> None:
    flags = [
        {"key": "a"} | _flag(1),
        {"key": "b"} | _flag(2, "1"),
        {"key": "c"} | _flag(3, "2", "a"),
        {"key": "gone"} | _flag(4, "404"),
        {"key": "loop"} | _flag(5, "5"),
    ]
    served = {
        f["key"]: f["filters"]["groups"][0]["properties"] for f in with_dependency_chains(flags)
    }
    assert [(p["key"], p["dependency_chain"]) for p in served["c"]] == [
        ("b", ["a", "b"]),
        ("a", ["a"]),
    ]
    assert [(p["key"], p["dependency_chain"]) for p in served["gone"]] == [("404", [])]
    assert [(p["key"], p["dependency_chain"]) for p in served["loop"]] == [("loop", [])]
    assert "dependency_chain" not in flags[2]["filters"]["groups"][0]["properties"][0]  # a copy
