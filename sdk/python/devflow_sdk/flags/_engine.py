"""The flag set: definitions compiled once, evaluated many times from any thread."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from typing import Any

from ._compile import Compiler
from ._flag import CompiledFlag
from ._runner import build_runner
from ._types import (
    ERROR,
    INCONCLUSIVE,
    MISSING_CONTEXT,
    UNSUPPORTED_DEFINITION,
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

    __slots__ = ("_flags", "_runs")

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
            {str(k): v for k, v in group_type_mapping.items()}
            if isinstance(group_type_mapping, Mapping)
            else {},
            property_matching_version,
        )
        compiled: dict[str, CompiledFlag] = {}
        for key, definition in raw.items():
            try:
                compiled[key] = compiler.flag(definition)
            except Exception as exc:  # one bad flag must not sink the set
                broken = CompiledFlag(key, None, None)
                broken.active, broken.broken = True, f"uncompilable: {exc!r}"
                broken.run = build_runner(broken)
                compiled[key] = broken
        self._flags = compiled
        self._runs = tuple((flag.key, flag.run, flag) for flag in compiled.values())

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
        ev = _context(self._flags, distinct_id, complete, cohort_membership, device_id)
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
        ev = _context(self._flags, distinct_id, complete, cohort_membership, device_id)
        props = person_properties or _EMPTY
        group_keys = groups or _EMPTY
        group_props = group_properties or _EMPTY
        if keys is None:
            runs = self._runs
        else:
            runs = tuple((k, self._flags[k].run, self._flags[k]) for k in keys if k in self._flags)
        out: dict[str, Evaluation] = {}
        for key, run, flag in runs:
            try:
                out[key] = run(distinct_id, props, group_keys, group_props, ev)
            except Exception as exc:  # isolated per flag by design
                out[key] = _failed(flag, exc)
        return out


def _context(
    flags: Mapping[str, CompiledFlag],
    distinct_id: object,
    complete: bool,
    members: Collection[str] | None,
    device_id: str | None,
) -> Context:
    ev = Context(flags, complete, _membership(members), device_id)
    with suppress(UnicodeEncodeError):  # then each flag that hashes it fails, as in PostHog
        ev.id_bytes = f"{distinct_id}".encode()
    return ev


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
    try:
        return flag.run(distinct_id, person_properties, groups, group_properties, ev)
    except Exception as exc:  # isolated per flag by design
        return _failed(flag, exc)


def _failed(flag: CompiledFlag, exc: Exception) -> Evaluation:
    if isinstance(exc, Inconclusive | NeedsServer):
        return _inconclusive(flag, str(exc), exc.reason)
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
