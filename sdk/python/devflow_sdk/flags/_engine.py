"""The flag set: definitions compiled once, evaluated many times from any thread."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ._compile import Compiler
from ._flag import CompiledFlag, Value
from ._types import (
    CONDITION_MATCH,
    ERROR,
    EXPERIENCE_CONTINUITY,
    INCONCLUSIVE,
    MISSING_CONTEXT,
    NO_GROUP_TYPE,
    OUT_OF_ROLLOUT_BOUND,
    UNSUPPORTED_DEFINITION,
    BrokenDefinition,
    Context,
    Evaluation,
    Inconclusive,
    NeedsServer,
)

_EMPTY: Mapping[Any, Any] = {}


class FlagSet:
    """Flag definitions in PostHog's shape, compiled for evaluation.

    ``complete=False`` (an SDK evaluating locally) never guesses: whatever the given data cannot
    decide, exactly where PostHog's local evaluation gives up, is an ``inconclusive`` result to be
    resolved remotely. ``complete=True`` (the server, holding every property of the subject)
    treats a missing property as not set, a static cohort outside ``cohort_membership`` as not
    containing the subject, and an unusable filter as not matching.
    """

    __slots__ = ("_flags",)

    def __init__(
        self,
        flags: Sequence[Mapping[str, Any]],
        cohorts: Mapping[str, Any] | None = None,
        group_type_mapping: Mapping[str, str] | None = None,
        *,
        property_matching_version: int = 1,
    ) -> None:
        raw: dict[str, Mapping[str, Any]] = {}
        for flag in flags:
            if isinstance(flag, Mapping) and isinstance(flag.get("key"), str):
                raw[flag["key"]] = flag  # a later duplicate wins, as in PostHog
        compiler = Compiler(
            raw,
            cohorts if isinstance(cohorts, Mapping) else {},
            group_type_mapping if isinstance(group_type_mapping, Mapping) else {},
            property_matching_version,
        )
        compiled: dict[str, CompiledFlag] = {}
        for key, definition in raw.items():
            try:
                compiled[key] = compiler.flag(definition)
            except Exception as exc:  # one bad flag must not sink the set
                broken = CompiledFlag(key, None, None)
                broken.active, broken.broken = True, f"uncompilable: {exc!r}"
                compiled[key] = broken
        self._flags = compiled

    @classmethod
    def from_definitions(cls, payload: Mapping[str, Any]) -> FlagSet:
        """From a whole ``{"flags", "cohorts", "group_type_mapping"}`` document (PostHog's
        local-evaluation response)."""
        flags = payload.get("flags") or []
        version = payload.get("property_matching_version", 1)
        return cls(
            flags if isinstance(flags, list) else [],
            payload.get("cohorts") or {},
            payload.get("group_type_mapping") or {},
            property_matching_version=version if isinstance(version, int) else 1,
        )

    def keys(self) -> list[str]:
        return list(self._flags)

    def __contains__(self, key: object) -> bool:
        return key in self._flags

    def __len__(self) -> int:
        return len(self._flags)

    def __iter__(self) -> Iterator[str]:
        return iter(self._flags)

    def evaluate(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        cohort_membership: Collection[str] | None = None,
        complete: bool = False,
        device_id: str | None = None,
    ) -> Evaluation | None:
        """One flag for one subject; None when the key is unknown."""
        flag = self._flags.get(key)
        if flag is None:
            return None
        ev = Context(self._flags, complete, _membership(cohort_membership), device_id)
        return _evaluate(
            flag,
            distinct_id,
            person_properties or _EMPTY,
            groups or _EMPTY,
            group_properties or _EMPTY,
            ev,
        )

    def evaluate_all(
        self,
        distinct_id: str,
        *,
        person_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Mapping[str, Any]] | None = None,
        cohort_membership: Collection[str] | None = None,
        complete: bool = False,
        device_id: str | None = None,
        keys: Iterable[str] | None = None,
    ) -> dict[str, Evaluation]:
        """Every flag (or those in ``keys`` that exist); a flag that fails is an ``error`` result
        and does not affect the others."""
        ev = Context(self._flags, complete, _membership(cohort_membership), device_id)
        props = person_properties or _EMPTY
        group_keys = groups or _EMPTY
        group_props = group_properties or _EMPTY
        if keys is None:
            selected: Iterable[CompiledFlag] = self._flags.values()
        else:
            selected = [self._flags[k] for k in keys if k in self._flags]
        return {
            flag.key: _evaluate(flag, distinct_id, props, group_keys, group_props, ev)
            for flag in selected
        }


def _membership(members: Collection[str] | None) -> Collection[str] | None:
    if members is None or isinstance(members, set | frozenset):
        return members
    return frozenset(str(m) for m in members)


def _evaluate(
    flag: CompiledFlag,
    distinct_id: str,
    person_properties: Mapping[str, Any],
    groups: Mapping[str, Any],
    group_properties: Mapping[str, Mapping[str, Any]],
    ev: Context,
) -> Evaluation:
    if not flag.active:
        assert flag.disabled is not None
        return flag.disabled
    if flag.continuity and not ev.complete:
        return _inconclusive(
            flag,
            "experience continuity needs the server's stored assignments",
            EXPERIENCE_CONTINUITY,
        )
    try:
        if flag.broken is not None:
            raise BrokenDefinition(flag.broken)
        props: Mapping[str, Any]
        if flag.aggregation is not None:
            name = flag.group_name
            if not name or name not in groups:
                if not name and not ev.complete:
                    return _inconclusive(
                        flag,
                        f"unknown group type index {flag.aggregation!r}",
                        UNSUPPORTED_DEFINITION,
                    )
                return _no_group(flag, name)
            if name in group_properties:
                props = group_properties[name]
            elif ev.complete:
                props = _EMPTY
            else:
                return _inconclusive(flag, f"properties of group {name!r} were not passed")
            subject = bucketing = groups[name]
        else:
            subject = bucketing = distinct_id
            props = person_properties
            if flag.device_bucketing:
                if ev.device_id:
                    bucketing = ev.device_id
                elif not ev.complete:
                    return _inconclusive(
                        flag, "the flag buckets by device_id, which was not passed"
                    )
        ev.subject = subject
        ev.dep_cache = None
        value, index, reason = flag.match(subject, props, bucketing, ev, (groups, group_properties))
    except (Inconclusive, NeedsServer) as exc:
        return _inconclusive(flag, str(exc), exc.reason)
    except Exception as exc:  # isolated per flag by design
        return Evaluation(
            flag.key,
            False,
            None,
            None,
            ERROR,
            None,
            f"Evaluation failed: {exc}",
            flag.flag_id,
            flag.version,
            error=f"{type(exc).__name__}: {exc}",
        )
    return _result(flag, value, index, reason)


def _result(flag: CompiledFlag, value: Value, index: int | None, reason: str) -> Evaluation:
    if reason == CONDITION_MATCH and value is not False:
        if index is not None:
            cached = flag.matched[index].get(value)
            if cached is not None and cached.variant == (None if value is True else value):
                return cached
        variant = None if value is True else str(value)
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
    if reason == OUT_OF_ROLLOUT_BOUND and index is not None:
        return flag.out_of_bound[index]
    assert flag.no_match is not None
    return flag.no_match


def _no_group(flag: CompiledFlag, name: str | None) -> Evaluation:
    what = f"group type {name!r} was not passed" if name else "the group type is unknown"
    return Evaluation(
        flag.key,
        False,
        None,
        None,
        NO_GROUP_TYPE,
        None,
        f"Not enabled: {what}",
        flag.flag_id,
        flag.version,
    )


def _inconclusive(flag: CompiledFlag, why: str, reason: str = MISSING_CONTEXT) -> Evaluation:
    return Evaluation(
        flag.key,
        False,
        None,
        None,
        INCONCLUSIVE,
        None,
        f"Inconclusive ({reason or UNSUPPORTED_DEFINITION}): {why}",
        flag.flag_id,
        flag.version,
        inconclusive=True,
    )
