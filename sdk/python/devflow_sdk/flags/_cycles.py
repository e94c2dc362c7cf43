"""Flag dependencies: which flags a flag references, cycles, and evaluation chains.

A dependency filter is ``{"type": "flag", "key": <ref>, "operator": "flag_evaluates_to",
"value": ...}`` where ``<ref>`` is the referenced flag's id as a string (as PostHog stores it) or
its key (as PostHog serves it to SDKs). An id is tried first, then a key.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

_END: Final[Any] = object()


def _dependency_filters(flag: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    filters = flag.get("filters") if isinstance(flag, Mapping) else None
    if not isinstance(filters, Mapping):
        return
    groups = filters.get("groups")
    if not isinstance(groups, list):
        return
    for group in groups:
        props = group.get("properties") if isinstance(group, Mapping) else None
        if not isinstance(props, list):
            continue
        for prop in props:
            if isinstance(prop, Mapping) and prop.get("type") == "flag":
                yield prop


def dependencies(flag: Mapping[str, Any]) -> set[str]:
    """The references (id strings or keys) of every flag ``flag``'s conditions depend on."""
    return {str(p.get("key")) for p in _dependency_filters(flag) if p.get("key") is not None}


def _ordered_dependencies(flag: Mapping[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for prop in _dependency_filters(flag):
        if prop.get("key") is not None:
            seen.setdefault(str(prop.get("key")), None)
    return list(seen)


class Resolver:
    """Maps references to flag keys: an id string first, then a key."""

    def __init__(self, flags: Mapping[str, Mapping[str, Any]]) -> None:
        self.flags = flags
        self.by_id: dict[str, str] = {}
        for key, flag in flags.items():
            flag_id = flag.get("id") if isinstance(flag, Mapping) else None
            if flag_id is not None and not isinstance(flag_id, bool):
                self.by_id.setdefault(str(flag_id), key)

    def resolve(self, ref: str) -> str | None:
        if ref in self.by_id:
            return self.by_id[ref]
        return ref if ref in self.flags else None

    def edges(self, key: str) -> list[str | None]:
        """The keys ``key`` depends on, in order of first reference (None: not found)."""
        return [self.resolve(ref) for ref in _ordered_dependencies(self.flags[key])]


def find_dependency_cycle(flags: Mapping[str, Mapping[str, Any]]) -> list[str] | None:
    """A dependency cycle among ``flags`` (keyed by flag key) as keys, first key repeated at
    the end (``["a", "b", "a"]``), or None. References to unknown flags are ignored."""
    resolver = Resolver(flags)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in flags:
        if state.get(root):
            continue
        path: list[str] = [root]
        stack: list[Iterator[str | None]] = [iter(resolver.edges(root))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], _END)
            if nxt is _END:
                state[path.pop()] = 2
                stack.pop()
                continue
            if nxt is None:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(resolver.edges(nxt)))
    return None


def dependency_chains(flags: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """For every flag, the keys to evaluate before it can be read as a dependency, itself last,
    in dependency order; an empty list when it (transitively) depends on a cycle or on a flag
    that does not exist, which is how PostHog serves such chains."""
    resolver = Resolver(flags)
    chains: dict[str, list[str]] = {}

    def build(key: str, visiting: set[str]) -> list[str]:
        if key in chains:
            return chains[key]
        if key in visiting:
            return []
        visiting.add(key)
        order: list[str] = []
        ok = True
        for dep in resolver.edges(key):
            sub = build(dep, visiting) if dep is not None else []
            if not sub:
                ok = False
                break
            order.extend(k for k in sub if k not in order)
        visiting.discard(key)
        chain = [*order, key] if ok else []
        if ok or not visiting:
            chains[key] = chain
        return chain

    for key in flags:
        build(key, set())
    return chains


def with_dependency_chains(flags: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``flags`` in the shape PostHog serves them to SDKs for local evaluation: every
    dependency names its flag by key and carries its ``dependency_chain`` (empty for a cycle or
    a flag that does not exist, whose reference is then left as it was)."""
    by_key = {
        f["key"]: f for f in flags if isinstance(f, Mapping) and isinstance(f.get("key"), str)
    }
    resolver = Resolver(by_key)
    chains = dependency_chains(by_key)
    out = copy.deepcopy([dict(f) for f in flags])
    for flag in out:
        for prop in _dependency_filters(flag):
            target = resolver.resolve(str(prop.get("key")))
            if target is not None:
                prop["key"] = target  # type: ignore[index]
            prop["dependency_chain"] = list(chains.get(target, [])) if target else []  # type: ignore[index]
    return out
