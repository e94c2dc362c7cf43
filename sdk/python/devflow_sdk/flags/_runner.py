"""Top-level evaluation of one flag, specialised per flag when it is compiled.

A runner takes ``(distinct_id, person_properties, groups, group_properties, context)`` and returns
an :class:`Evaluation`, or raises :class:`Inconclusive` / :class:`NeedsServer` when local
evaluation cannot decide (and any other exception where PostHog's evaluator would fail).

The generic runner mirrors PostHog's ``_compute_flag_locally``: disabled, experience continuity,
group resolution, device-id bucketing, then :meth:`CompiledFlag.match`. Most flags (person flags
whose conditions are only filters and rollouts) get a fast runner instead: the same loop with
every per-condition decision and every possible result prepared in advance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ._flag import CompiledFlag, reason_of
from ._types import (
    CONDITION_MATCH,
    EXPERIENCE_CONTINUITY,
    MISSING_CONTEXT,
    NO_GROUP_TYPE,
    OUT_OF_ROLLOUT_BOUND,
    UNSUPPORTED_DEFINITION,
    BrokenDefinition,
    Context,
    Evaluation,
    Inconclusive,
    NeedsServer,
    Predicate,
    Value,
)

Runner = Callable[
    [Any, Mapping[Any, Any], Mapping[Any, Any], Mapping[Any, Any], Context], Evaluation
]
_EMPTY: Final[Mapping[Any, Any]] = {}


def build_runner(flag: CompiledFlag) -> Runner:
    if not flag.active:
        disabled = flag.disabled
        assert disabled is not None

        def off(*_: Any) -> Evaluation:
            return disabled

        return off
    if _is_plain(flag):
        return _fast_runner(flag)
    return _generic_runner(flag)


def _is_plain(flag: CompiledFlag) -> bool:
    return (
        not flag.continuity
        and flag.broken is None
        and flag.aggregation is None
        and not flag.device_bucketing
        and not flag.enrollment
        and flag.holdout is None
        and flag.conditions_broken is None
        and flag.variants_broken is None
        and all(
            c.broken is None and c.rollout_broken is None and not c.group for c in flag.conditions
        )
    )


def _fast_runner(flag: CompiledFlag) -> Runner:
    steps: list[Step] = []
    for cond in flag.conditions:
        i = cond.index
        threshold = cond.threshold
        limit = threshold if threshold is not None and threshold < 1.0 else None
        fixed: Evaluation | None = None
        by_variant: tuple[tuple[float, float, Evaluation], ...] = ()
        if cond.override is not None:
            fixed = result(flag, cond.override, i)
        elif not flag.variants:
            fixed = result(flag, True, i)
        else:
            by_variant = tuple(
                (low, high, result(flag, variant or True, i))
                for low, high, variant in flag.variants
            )
        steps.append((cond.check, limit, fixed, by_variant, result(flag, True, i), i))
    plan = tuple(steps)
    rollout_hash, variant_hash = flag.rollout_hash, flag.variant_hash
    rollout_bytes, variant_bytes = flag.rollout_bytes, flag.variant_bytes
    early_exit, uses_deps = flag.early_exit, flag.uses_deps
    no_match, out_of_bound = flag.no_match, flag.out_of_bound
    assert no_match is not None
    if len(plan) == 1:
        return _single_condition_runner(flag, plan[0])

    def run(
        distinct_id: Any,
        props: Mapping[Any, Any],
        groups: Mapping[Any, Any],
        group_props: Mapping[Any, Any],
        ev: Context,
    ) -> Evaluation:
        if uses_deps:
            ev.subject = distinct_id
            ev.dep_cache = None
        position = -1.0
        pending: Exception | None = None
        first_out: int | None = None
        for check, limit, fixed, by_variant, enabled, i in plan:
            if check is not None:
                try:
                    if not check(props, ev):
                        continue
                except NeedsServer:
                    raise
                except Inconclusive as exc:
                    pending = exc
                    continue
            if limit is not None:
                if position < 0.0:
                    encoded = ev.id_bytes
                    position = (
                        rollout_hash(distinct_id) if encoded is None else rollout_bytes(encoded)
                    )
                if position > limit:
                    if first_out is None:
                        first_out = i
                    if early_exit:
                        break
                    continue
            if fixed is not None:
                return fixed
            encoded = ev.id_bytes
            spot = variant_hash(distinct_id) if encoded is None else variant_bytes(encoded)
            for low, high, outcome in by_variant:
                if low <= spot < high:
                    return outcome
            return enabled
        if pending is not None:
            raise Inconclusive(
                f"no condition matched and one was undecided: {pending}", reason_of(pending)
            )
        return no_match if first_out is None else out_of_bound[first_out]

    return run


Step = tuple[
    Predicate | None,  # the condition's filters
    float | None,  # rollout / 100 when below 100%
    Evaluation | None,  # the result when it matches, unless the variant is hashed
    tuple[tuple[float, float, Evaluation], ...],  # variant ranges and their results
    Evaluation,  # the result when no variant range contains the subject
    int,  # the condition's index
]


def _single_condition_runner(flag: CompiledFlag, step: Step) -> Runner:
    """The most common flag: one condition set. Exceptions from its filters propagate as they
    are, which is what the general loop would make of them with a single condition."""
    check, limit, fixed, by_variant, enabled, _ = step
    rollout_hash, variant_hash = flag.rollout_hash, flag.variant_hash
    rollout_bytes, variant_bytes = flag.rollout_bytes, flag.variant_bytes
    uses_deps = flag.uses_deps
    no_match, out_of_bound = flag.no_match, flag.out_of_bound[0]
    assert no_match is not None

    def run(
        distinct_id: Any,
        props: Mapping[Any, Any],
        groups: Mapping[Any, Any],
        group_props: Mapping[Any, Any],
        ev: Context,
    ) -> Evaluation:
        if uses_deps:
            ev.subject = distinct_id
            ev.dep_cache = None
        if check is not None and not check(props, ev):
            return no_match
        if limit is not None:
            encoded = ev.id_bytes
            position = rollout_hash(distinct_id) if encoded is None else rollout_bytes(encoded)
            if position > limit:
                return out_of_bound
        if fixed is not None:
            return fixed
        encoded = ev.id_bytes
        spot = variant_hash(distinct_id) if encoded is None else variant_bytes(encoded)
        for low, high, outcome in by_variant:
            if low <= spot < high:
                return outcome
        return enabled

    return run


def _generic_runner(flag: CompiledFlag) -> Runner:
    no_group = Evaluation(
        flag.key,
        False,
        None,
        None,
        NO_GROUP_TYPE,
        None,
        f"Not enabled: group type {flag.group_name!r} was not passed"
        if flag.group_name
        else "Not enabled: the group type is unknown",
        flag.flag_id,
        flag.version,
    )

    def run(
        distinct_id: Any,
        person_props: Mapping[Any, Any],
        groups: Mapping[Any, Any],
        group_props: Mapping[Any, Any],
        ev: Context,
    ) -> Evaluation:
        if flag.continuity and not ev.complete:
            raise Inconclusive(
                "experience continuity needs the server's stored assignments", EXPERIENCE_CONTINUITY
            )
        if flag.broken is not None:
            raise BrokenDefinition(flag.broken)
        props: Mapping[Any, Any]
        if flag.aggregation is not None:
            name = flag.group_name
            if not name or name not in groups:
                if not name and not ev.complete:
                    raise Inconclusive(
                        f"unknown group type index {flag.aggregation!r}", UNSUPPORTED_DEFINITION
                    )
                return no_group
            if name in group_props:
                props = group_props[name]
            elif ev.complete:
                props = _EMPTY
            else:
                raise Inconclusive(f"properties of group {name!r} were not passed", MISSING_CONTEXT)
            subject = bucketing = groups[name]
        else:
            subject = bucketing = distinct_id
            props = person_props
            if flag.device_bucketing:
                if ev.device_id:
                    bucketing = ev.device_id
                elif not ev.complete:
                    raise Inconclusive("the flag buckets by device_id, which was not passed")
        ev.subject = subject
        ev.dep_cache = None
        value, index, reason = flag.match(subject, props, bucketing, ev, (groups, group_props))
        if reason == CONDITION_MATCH and value is not False:
            return result(flag, value, index)
        if reason == OUT_OF_ROLLOUT_BOUND and index is not None:
            return flag.out_of_bound[index]
        assert flag.no_match is not None
        return flag.no_match

    return run


def result(flag: CompiledFlag, value: Value, index: int | None) -> Evaluation:
    """The enabled result for ``value`` (True or a variant) decided by condition ``index``."""
    variant = None if value is True else str(value)
    if index is not None:
        cached = flag.matched[index].get(variant if variant is not None else True)
        if cached is not None and cached.variant == variant:
            return cached
    payload = flag.payloads.get("true" if variant is None else variant)
    described = "Matched" if index is None else f"Matched condition set {index + 1}"
    return Evaluation(
        flag.key,
        True,
        variant,
        payload,
        CONDITION_MATCH,
        index,
        described,
        flag.flag_id,
        flag.version,
    )
