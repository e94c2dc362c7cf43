"""Flag definitions (PostHog's shape) compiled into :class:`CompiledFlag` objects.

Malformed parts do not fail the compilation: they become nodes that fail at the point where
PostHog's evaluator would fail on them (so a broken second condition only matters to a subject
the first condition did not match), and such a failure surfaces as an ``error`` result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._cycles import Resolver, dependency_chains
from ._deps import compile_dependency
from ._flag import CompiledFlag, Condition
from ._operators import compile_property
from ._runner import build_runner
from ._types import (
    CONDITION_MATCH,
    FLAG_DISABLED,
    NO_CONDITION_MATCH,
    OUT_OF_ROLLOUT_BOUND,
    UNSUPPORTED_DEFINITION,
    BrokenDefinition,
    Context,
    Evaluation,
    Inconclusive,
    NeedsServer,
    Predicate,
)

_COHORT_OPERATORS: Final = ("exact", "in", "not_in")
Compiled = tuple[Predicate, bool]  # (predicate, "raises nothing but Inconclusive")


def _always(props: Mapping[Any, Any], ev: Context) -> bool:
    return True


def _raiser(exc_type: type[Exception], why: str) -> Predicate:
    def predicate(props: Mapping[Any, Any], ev: Context) -> bool:
        if exc_type is NeedsServer and ev.complete:
            return False
        raise exc_type(why)

    return predicate


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class Compiler:
    """Compiles the flags of one definitions document; cohorts are compiled once, shared."""

    def __init__(
        self,
        flags: Mapping[str, Mapping[str, Any]],
        cohorts: Mapping[Any, Any],
        group_type_mapping: Mapping[Any, Any],
        matching_version: int,
    ) -> None:
        resolver = Resolver(flags)
        self.resolve: dict[str, str] = {key: key for key in flags} | resolver.by_id
        served = _has_served_chains(flags.values()) or _has_served_chains(cohorts.values())
        self.chains = None if served else dependency_chains(flags)
        self.cohorts = {str(k): v for k, v in cohorts.items()}
        self.group_types = group_type_mapping
        self.matching_version = matching_version
        self._cohort_groups: dict[str, Compiled] = {}
        self._cohort_deps: dict[str, bool] = {}  # does the cohort contain flag dependencies?
        self._compiling: set[str] = set()
        self._deps_seen = False  # did the flag being compiled reach a dependency filter?

    # --- filters ---------------------------------------------------------------------------------

    def condition_filter(self, prop: Any) -> Compiled:
        """A filter of a condition or of a cohort: cohort, flag dependency or property."""
        if not isinstance(prop, Mapping):
            return _raiser(BrokenDefinition, "a filter is not an object"), False
        kind = prop.get("type")
        if kind == "cohort":
            return self._cohort(prop), False
        if kind == "flag":
            self._deps_seen = True
            return compile_dependency(prop, self.resolve, self.chains), False
        return compile_property(prop, self.matching_version), _hashable(prop.get("key"))

    def _cohort(self, prop: Mapping[str, Any]) -> Predicate:
        cohort_id = str(prop.get("value"))
        operator = prop.get("operator") or "exact"
        supported = isinstance(operator, str) and operator in _COHORT_OPERATORS
        negate = operator == "not_in"
        unsupported = f"unsupported cohort operator {operator!r}"
        definition = self.cohorts.get(cohort_id)
        if definition is None or (
            isinstance(definition, Mapping) and definition.get("is_static") is True
        ):
            needs = f"cohort {cohort_id} is static or unknown: membership is needed"

            def static(props: Mapping[Any, Any], ev: Context) -> bool:
                members = ev.membership
                if members is None and not ev.complete:
                    raise NeedsServer(needs)
                member = members is not None and cohort_id in members
                if not supported:
                    return ev.undecided(unsupported, UNSUPPORTED_DEFINITION)
                return member is not negate

            return static
        group, _ = self.cohort_group(cohort_id)
        self._deps_seen = self._deps_seen or self._cohort_deps.get(cohort_id, True)

        def dynamic(props: Mapping[Any, Any], ev: Context) -> bool:
            if not supported:
                return ev.undecided(unsupported, UNSUPPORTED_DEFINITION)
            return group(props, ev) is not negate

        return dynamic

    def cohort_group(self, cohort_id: str) -> Compiled:
        if cohort_id in self._cohort_groups:
            return self._cohort_groups[cohort_id]
        if cohort_id in self._compiling:
            return _raiser(BrokenDefinition, f"cohort {cohort_id} contains itself"), False
        self._compiling.add(cohort_id)
        outer, self._deps_seen = self._deps_seen, False
        try:
            compiled = self.group(self.cohorts[cohort_id])
        finally:
            self._compiling.discard(cohort_id)
            self._cohort_deps[cohort_id] = self._deps_seen
            self._deps_seen = outer or self._deps_seen
        self._cohort_groups[cohort_id] = compiled
        return compiled

    def group(self, group: Any) -> Compiled:
        """A property group ``{"type": "AND"|"OR", "values": [...]}``, nested or not."""
        if isinstance(group, Mapping) and not group:
            return _always, True
        if not isinstance(group, Mapping):
            return _raiser(NeedsServer, "a property group is not an object"), False
        if group.get("type") not in ("AND", "OR"):
            return _raiser(NeedsServer, "a property group's type is not AND or OR"), False
        values = group.get("values")
        if not isinstance(values, list):
            return _raiser(NeedsServer, "a property group's values are not a list"), False
        if not values:
            return _always, True
        entries: list[tuple[Predicate, bool]] = []
        safe = True
        for entry in values:
            if not isinstance(entry, Mapping):
                compiled: Compiled = (_raiser(NeedsServer, "a group entry is not an object"), False)
                negated = False
            elif not entry or "values" in entry or entry.get("type") in ("AND", "OR"):
                compiled, negated = self.group(entry), False
            else:
                compiled = self.condition_filter(entry)
                negated = bool(entry.get("negation", False))
            entries.append((compiled[0], negated))
            safe = safe and compiled[1]
        return _group_predicate(group.get("type") == "AND", tuple(entries), safe), safe

    # --- flags -----------------------------------------------------------------------------------

    def flag(self, raw: Mapping[str, Any]) -> CompiledFlag:
        flag_id, version = raw.get("id"), raw.get("version")
        flag = CompiledFlag(
            raw["key"],
            flag_id if isinstance(flag_id, int) and not isinstance(flag_id, bool) else None,
            version if isinstance(version, int) and not isinstance(version, bool) else None,
        )
        flag.active = bool(raw.get("active"))
        flag.continuity = bool(raw.get("ensure_experience_continuity", False))
        filters = raw.get("filters") or {}
        self._deps_seen = False
        if isinstance(filters, Mapping):
            try:
                self._filters(flag, raw, filters)
            except Exception as exc:  # a definition this broken is an error result
                flag.broken = f"unusable filters: {exc}"
        else:
            flag.broken = "filters is not an object"
        flag.uses_deps = self._deps_seen
        _prebuild_results(flag)
        flag.run = build_runner(flag)
        return flag

    def _filters(
        self, flag: CompiledFlag, raw: Mapping[str, Any], filters: Mapping[str, Any]
    ) -> None:
        flag.aggregation = filters.get("aggregation_group_type_index")
        if flag.aggregation is not None:
            flag.group_name = self.group_types.get(str(flag.aggregation)) or None
        identifier = raw.get("bucketing_identifier") or filters.get("bucketing_identifier")
        flag.device_bucketing = identifier == "device_id"
        flag.enrollment = filters.get("feature_enrollment") is True
        flag.early_exit = bool(filters.get("early_exit"))
        payloads = filters.get("payloads") or {}
        flag.payloads = payloads if isinstance(payloads, Mapping) else {}
        flag.holdout = _holdout(filters.get("holdout"))
        valid_variants = self._variants(flag, filters)
        conditions = filters.get("groups") or []
        if not isinstance(conditions, list):
            flag.conditions_broken = "groups is not a list"
            return
        flag.conditions = [
            self._condition(i, cond, flag.aggregation, valid_variants)
            for i, cond in enumerate(conditions)
        ]

    def _variants(self, flag: CompiledFlag, filters: Mapping[str, Any]) -> list[Any]:
        try:
            variants = (filters.get("multivariate") or {}).get("variants") or []
            valid = [variant["key"] for variant in variants]
        except Exception as exc:
            flag.conditions_broken = f"unusable variants: {exc!r}"
            return []
        try:
            table: list[tuple[float, float, Any]] = []
            low: float = 0
            for variant in variants:
                high = low + variant["rollout_percentage"] / 100
                table.append((low, high, variant["key"]))
                low = high
            flag.variants = tuple(table)
        except Exception as exc:
            flag.variants_broken = f"unusable variant rollout: {exc!r}"
        return valid

    def _condition(self, index: int, cond: Any, aggregation: Any, valid: list[Any]) -> Condition:
        if not isinstance(cond, Mapping):
            return Condition(index, (), None, None, broken="a condition is not an object")
        own = cond.get("aggregation_group_type_index", aggregation)
        is_group = own != aggregation and own is not None
        group_name = (self.group_types.get(str(own)) or None) if is_group else None
        props = cond.get("properties") or []
        if isinstance(props, list):
            predicates = tuple(self.condition_filter(prop)[0] for prop in props)
        else:
            predicates = (_raiser(BrokenDefinition, "properties is not a list"),)
        rollout = cond.get("rollout_percentage")
        threshold: float | None = None
        rollout_broken = None
        if rollout is not None:
            try:
                threshold = rollout / 100
            except Exception as exc:
                rollout_broken = f"unusable rollout_percentage: {exc!r}"
        override = cond.get("variant")
        return Condition(
            index,
            predicates,
            threshold,
            override if override and override in valid else None,
            group=is_group,
            group_name=group_name,
            rollout_broken=rollout_broken,
        )


def _has_served_chains(definitions: Any) -> bool:
    """Whether any dependency filter in these flags or cohorts carries a ``dependency_chain``
    (anywhere in nested objects and lists)."""
    stack = list(definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if node.get("type") == "flag" and "dependency_chain" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _holdout(holdout: Any) -> tuple[float, str] | str | None:
    if not holdout:
        return None
    if not isinstance(holdout, Mapping):
        return "holdout is not an object"
    percentage, holdout_id = holdout.get("exclusion_percentage"), holdout.get("id")
    if percentage is None or holdout_id is None:
        return None
    try:
        clamped = min(max(float(percentage), 0.0), 100.0)
    except Exception as exc:
        return f"unusable holdout: {exc!r}"
    return clamped, f"holdout-{holdout_id}"


def _group_predicate(
    is_and: bool, entries: tuple[tuple[Predicate, bool], ...], safe: bool
) -> Predicate:
    """PostHog's property-group semantics: a decisive entry (false in AND, true in OR) decides,
    otherwise an undecidable entry makes the group undecidable. Every entry is evaluated unless
    none can stop the evaluation (static cohorts, dependencies), so the first decisive one can."""

    def group(props: Mapping[Any, Any], ev: Context) -> bool:
        pending: Inconclusive | None = None
        decided = False
        for entry, negated in entries:
            try:
                if (entry(props, ev) != negated) != is_and:
                    if safe:
                        return not is_and
                    decided = True
            except Inconclusive as exc:
                pending = exc
        if decided:
            return not is_and
        if pending is not None:
            raise Inconclusive(f"a cohort could not be decided: {pending}", pending.reason)
        return is_and

    return group


def _prebuild_results(flag: CompiledFlag) -> None:
    """The results that depend only on the definition, shared by every evaluation."""
    common = (flag.flag_id, flag.version)
    key = flag.key
    flag.disabled = Evaluation(
        key, False, None, None, FLAG_DISABLED, None, "Flag is disabled", *common
    )
    flag.no_match = Evaluation(
        key, False, None, None, NO_CONDITION_MATCH, None, "No matching condition set", *common
    )
    true_payload = flag.payloads.get("true")
    variant_keys = [variant for _, _, variant in flag.variants if isinstance(variant, str)]
    for cond in flag.conditions:
        i = cond.index
        described = f"Matched condition set {i + 1}"
        matched: dict[Any, Evaluation] = {
            True: Evaluation(key, True, None, true_payload, CONDITION_MATCH, i, described, *common)
        }
        for variant in variant_keys:
            payload = flag.payloads.get(variant)
            matched[variant] = Evaluation(
                key, True, variant, payload, CONDITION_MATCH, i, described, *common
            )
        flag.matched.append(matched)
        flag.out_of_bound.append(
            Evaluation(
                key,
                False,
                None,
                None,
                OUT_OF_ROLLOUT_BOUND,
                i,
                f"Out of rollout bound (condition set {i + 1})",
                *common,
            )
        )
