"""Flag-dependency filters (``"type": "flag"``, operator ``flag_evaluates_to``).

As in PostHog's local evaluation, a dependency names a chain of flags (the referenced flag's own
dependencies first, the flag itself last); every member not yet evaluated for the current
top-level flag is evaluated in order and cached (``None`` when undecidable), and the filter then
compares the referenced flag's value with the expected one. Any undecidable member makes the
filter inconclusive; a chain PostHog serves empty (a cycle, or a flag that does not exist) is
inconclusive too. With complete data such a filter simply does not match.

Definitions as PostHog serves them carry the chain (``dependency_chain``) and name the flag by
key; definitions as stored name it by id (or key) and get their chain computed here. A document
is taken as served when any of its dependencies carries a chain; in a served document a
dependency without one is malformed, and inconclusive, as in PostHog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._types import (
    MISSING_CONTEXT,
    UNRESOLVED_DEPENDENCY,
    UNSUPPORTED_DEFINITION,
    Context,
    Inconclusive,
    NeedsServer,
    Predicate,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


def _never(props: Mapping[Any, Any], ev: Context) -> bool:
    return False


def compile_dependency(
    prop: Mapping[str, Any],
    resolve: Mapping[str, str],
    chains: Mapping[str, list[str]] | None,
) -> Predicate:
    """``resolve`` maps ids and keys to keys; ``chains`` is the computed chain per key, or None
    for definitions as PostHog serves them, where a dependency without its chain is malformed."""
    # A malformed filter is a definitive "no match", not a reason to ask the server.
    if prop.get("operator", "exact") != "flag_evaluates_to":
        return _never
    ref, expected = prop.get("key"), prop.get("value")
    if not ref or expected is None:
        return _never
    chain: list[Any] | None
    if "dependency_chain" in prop:
        served = prop["dependency_chain"]
        target: Any = ref
        chain = served if isinstance(served, list) and served else None
    elif chains is None:
        target, chain = ref, None
    else:
        target = resolve.get(str(ref))
        chain = (chains.get(target) or None) if target is not None else None
    if chain is None:
        why = f"dependency on {ref!r} cannot be resolved (missing flag or a cycle)"

        def unresolvable(props: Mapping[Any, Any], ev: Context) -> bool:
            return ev.undecided(why, UNSUPPORTED_DEFINITION)

        return unresolvable
    members = tuple(chain)

    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        cache = ev.dep_cache
        if cache is None:
            cache = ev.dep_cache = {}
        flags = ev.flags
        for key in members:
            if key not in cache and not flags.get(key):
                cache[key] = None
                return ev.undecided(f"flag {key!r} is not defined", UNSUPPORTED_DEFINITION)
        for key in members:
            if key not in cache:
                _evaluate_member(key, props, ev, cache)
        actual = cache.get(target)
        if actual is None:
            return ev.undecided(f"flag {target!r} could not be evaluated", UNRESOLVED_DEPENDENCY)
        return _matches(expected, actual)

    return predicate


def _evaluate_member(
    key: Any, props: Mapping[Any, Any], ev: Context, cache: dict[Any, Any]
) -> None:
    flag = ev.flags[key]
    if not flag.active:
        cache[key] = False
        return
    if flag.continuity and not ev.complete:
        cache[key] = None
        raise Inconclusive(f"dependency {key!r} uses experience continuity", UNRESOLVED_DEPENDENCY)
    try:
        if flag.broken is not None:
            raise TypeError(flag.broken)
        subject = ev.subject
        if flag.aggregation is not None:
            bucketing = subject  # group flags keep bucketing by the group key in context
        elif flag.device_bucketing:
            bucketing = ev.device_id or subject
            if not ev.device_id and not ev.complete:
                raise Inconclusive("the flag buckets by device_id", MISSING_CONTEXT)
        else:
            bucketing = subject
        cache[key] = flag.match(subject, props, bucketing, ev, None)[0]
    except NeedsServer as exc:
        raise NeedsServer(f"dependency {key!r}: {exc}", UNRESOLVED_DEPENDENCY) from exc
    except Inconclusive as exc:
        cache[key] = None
        raise Inconclusive(f"dependency {key!r}: {exc}", UNRESOLVED_DEPENDENCY) from exc


def _matches(expected: Any, actual: Any) -> bool:
    """A variant matches its own name or ``true``; a boolean result matches the same boolean."""
    if isinstance(actual, str) and actual:
        if isinstance(expected, bool):
            return expected
        if isinstance(expected, str):
            return actual == expected
        return False
    if isinstance(actual, bool) and isinstance(expected, bool):
        return actual == expected
    return False
