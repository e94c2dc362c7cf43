"""A compiled flag and PostHog's condition-matching loop.

Conditions are OR'd and the first match wins; the filters of a condition are AND'd. What is
inconclusive follows PostHog's local evaluation exactly:

* an inconclusive filter does not end its condition: a later filter that fails still rules the
  condition out; otherwise the condition is inconclusive and the next condition is tried, and a
  later match wins even then;
* a filter that only the server can decide (a static cohort) stops the whole flag, unless an
  earlier filter of the same condition was already inconclusive;
* the flag is inconclusive when no condition matched and at least one was inconclusive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ._hashing import hasher
from ._types import (
    CONDITION_MATCH,
    MISSING_CONTEXT,
    NO_CONDITION_MATCH,
    OUT_OF_ROLLOUT_BOUND,
    UNSUPPORTED_DEFINITION,
    BrokenDefinition,
    Context,
    Evaluation,
    GroupsContext,
    Inconclusive,
    NeedsServer,
    Predicate,
    Value,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

_HOLDOUT: Final = hasher("holdout-")[0]


class Condition:
    """One condition set: its filters, rollout and variant override, compiled."""

    __slots__ = (
        "broken",
        "check",
        "group",
        "group_name",
        "index",
        "override",
        "rollout_broken",
        "threshold",
    )

    def __init__(
        self,
        index: int,
        predicates: tuple[Predicate, ...],
        threshold: float | None,
        override: str | None,
        group: bool = False,
        group_name: str | None = None,
        broken: str | None = None,
        rollout_broken: str | None = None,
    ) -> None:
        self.index = index
        # All filters as one predicate (None without filters); a single filter is used as it is,
        # which behaves exactly as match_all would with it alone.
        self.check: Predicate | None = None
        if len(predicates) == 1:
            self.check = predicates[0]
        elif predicates:
            self.check = _all_of(predicates)
        self.threshold = threshold  # rollout / 100, or None for "everyone who matches"
        self.override = override  # a variant that exists, or None
        self.group = group  # aggregates by a group of its own (mixed targeting)
        self.group_name = group_name
        self.broken = broken  # PostHog fails on this condition with an ordinary exception
        self.rollout_broken = rollout_broken  # ... or only once it reaches the rollout


def _all_of(predicates: tuple[Predicate, ...]) -> Predicate:
    """AND of a condition's filters with PostHog's handling of undecidable filters."""

    def match_all(props: Mapping[Any, Any], ev: Context) -> bool:
        pending: Exception | None = None
        server: NeedsServer | None = None
        for predicate in predicates:
            try:
                if not predicate(props, ev):
                    return False
            except NeedsServer as exc:
                if pending is None:
                    server = exc
                    pending = exc
            except Inconclusive as exc:
                if pending is None:
                    pending = exc
            except Exception:
                # After an undecidable filter an unexpected failure only ends the condition.
                if pending is None:
                    raise
                break
        if server is not None:
            raise server
        if pending is not None:
            raise Inconclusive(f"a condition could not be decided: {pending}", reason_of(pending))
        return True

    return match_all


def reason_of(exc: Exception) -> str:
    reason = getattr(exc, "reason", UNSUPPORTED_DEFINITION)
    return reason if isinstance(reason, str) else UNSUPPORTED_DEFINITION


class CompiledFlag:
    """Everything evaluation needs about one flag, parsed once."""

    __slots__ = (
        "active",
        "aggregation",
        "broken",
        "conditions",
        "conditions_broken",
        "continuity",
        "device_bucketing",
        "disabled",
        "early_exit",
        "enrollment",
        "flag_id",
        "group_name",
        "holdout",
        "key",
        "matched",
        "no_match",
        "out_of_bound",
        "payloads",
        "rollout_bytes",
        "rollout_hash",
        "run",
        "uses_deps",
        "variant_bytes",
        "variant_hash",
        "variants",
        "variants_broken",
        "version",
    )

    def __init__(self, key: str, flag_id: int | None, version: int | None) -> None:
        self.key = key
        self.flag_id = flag_id
        self.version = version
        self.active = False
        self.continuity = False
        self.broken: str | None = None  # the filters themselves are unusable
        self.aggregation: Any = None
        self.group_name: str | None = None
        self.device_bucketing = False
        self.enrollment = False
        self.holdout: tuple[float, str] | str | None = None  # (percentage, variant) or broken
        self.early_exit = False
        self.uses_deps = True  # may evaluate other flags (needs the subject in the context)
        self.conditions: Sequence[Condition] = ()
        self.conditions_broken: str | None = None
        self.variants: tuple[tuple[float, float, Any], ...] = ()
        self.variants_broken: str | None = None  # the variant table cannot be built
        self.payloads: Mapping[Any, Any] = {}
        self.rollout_hash, self.rollout_bytes = hasher(f"{key}.")
        self.variant_hash, self.variant_bytes = hasher(f"{key}.", "variant")
        # Results that do not depend on the subject, built once and shared.
        self.disabled: Evaluation | None = None
        self.no_match: Evaluation | None = None
        self.matched: list[dict[Any, Evaluation]] = []
        self.out_of_bound: list[Evaluation] = []
        # Top-level evaluation, specialised for this flag (see _runner.build_runner).
        self.run: Callable[
            [Any, Mapping[Any, Any], Mapping[Any, Any], Mapping[Any, Any], Context], Evaluation
        ]

    # --- evaluation ------------------------------------------------------------------------------

    def match(
        self,
        subject: object,
        props: Mapping[Any, Any],
        bucketing: object,
        ev: Context,
        groups: GroupsContext | None,
    ) -> tuple[Value, int | None, str]:
        """(value, deciding condition, reason); raises when local evaluation cannot decide.

        ``groups`` is None when the flag is evaluated as another flag's dependency: PostHog then
        evaluates it without any group context."""
        if self.enrollment:
            return self._enrollment(props, ev), None, CONDITION_MATCH
        if self.holdout is not None:
            held = self._held_out(bucketing)
            if held is not None:
                return held, None, CONDITION_MATCH
        if self.conditions_broken is not None:
            raise BrokenDefinition(self.conditions_broken)
        rollout = -1.0
        pending: Exception | None = None
        first_out: int | None = None
        for cond in self.conditions:
            try:
                if cond.broken is not None:
                    raise BrokenDefinition(cond.broken)
                cond_props, cond_bucketing = props, bucketing
                if cond.group:
                    context = _group_context(cond, groups, ev)
                    if context is None:
                        continue
                    cond_props, cond_bucketing = context
                if cond.check is not None and not cond.check(cond_props, ev):
                    continue
                if cond.rollout_broken is not None:
                    raise BrokenDefinition(cond.rollout_broken)
                threshold = cond.threshold
                if threshold is not None and threshold < 1.0:
                    if cond.group:
                        position = self.rollout_hash(cond_bucketing)
                    else:
                        if rollout < 0.0:
                            rollout = self.rollout_hash(bucketing)
                        position = rollout
                    if position > threshold:
                        if first_out is None:
                            first_out = cond.index
                        if self.early_exit:
                            break
                        continue
            except NeedsServer:
                raise
            except Inconclusive as exc:
                pending = exc
                continue
            return self._matched(cond, cond_bucketing), cond.index, CONDITION_MATCH
        if pending is not None:
            raise Inconclusive(
                f"no condition matched and one was undecided: {pending}", reason_of(pending)
            )
        if first_out is not None:
            return False, first_out, OUT_OF_ROLLOUT_BOUND
        return False, None, NO_CONDITION_MATCH

    def _matched(self, cond: Condition, bucketing: object) -> Value:
        if cond.override is not None:
            return cond.override
        if self.variants_broken is not None:
            raise BrokenDefinition(self.variants_broken)
        if self.variants:
            position = self.variant_hash(bucketing)
            for low, high, variant in self.variants:
                if low <= position < high:
                    return variant or True
        return True

    def _enrollment(self, props: Mapping[Any, Any], ev: Context) -> bool:
        if self.aggregation is not None:
            return ev.undecided(
                "feature enrollment reads person properties", UNSUPPORTED_DEFINITION
            )
        name = f"$feature_enrollment/{self.key}"
        if name not in props:
            return ev.undecided(f"{name!r} was not passed", MISSING_CONTEXT)
        enrolled = props[name]
        return bool(enrolled is True or enrolled == "true")

    def _held_out(self, bucketing: object) -> str | None:
        holdout = self.holdout
        if isinstance(holdout, str):
            raise BrokenDefinition(holdout)
        assert holdout is not None
        percentage, variant = holdout
        if percentage != 100.0 and _HOLDOUT(bucketing) > percentage / 100:
            return None
        return variant


def _group_context(
    cond: Condition, groups: GroupsContext | None, ev: Context
) -> tuple[Mapping[Any, Any], object] | None:
    """Properties and bucketing value of a condition aggregated by its own group type; None
    when the group was not passed (the condition then simply does not match)."""
    name = cond.group_name
    if groups is None or not name or name not in groups[0]:
        return None
    group_props = groups[1]
    if name not in group_props:
        if not ev.complete:
            raise Inconclusive(f"properties of group {name!r} were not passed", MISSING_CONTEXT)
        return {}, groups[0][name]
    return group_props[name], groups[0][name]
