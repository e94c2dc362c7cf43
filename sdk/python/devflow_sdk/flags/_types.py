"""Public result types and the engine's internal control-flow exceptions."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import msgspec

# Why a flag came out the way it did.
CONDITION_MATCH: Final = "condition_match"
NO_CONDITION_MATCH: Final = "no_condition_match"
OUT_OF_ROLLOUT_BOUND: Final = "out_of_rollout_bound"
NO_GROUP_TYPE: Final = "no_group_type"
FLAG_DISABLED: Final = "flag_disabled"
INCONCLUSIVE: Final = "inconclusive"
ERROR: Final = "error"

# Why a local evaluation was inconclusive (the same vocabulary as PostHog's SDKs use).
MISSING_CONTEXT: Final = "missing_context"
UNSUPPORTED_DEFINITION: Final = "unsupported_definition"
UNRESOLVED_DEPENDENCY: Final = "unresolved_dependency"
EXPERIENCE_CONTINUITY: Final = "experience_continuity"


class Evaluation(msgspec.Struct, frozen=True, gc=False):
    """The outcome of evaluating one flag for one subject.

    ``payload`` is the raw payload of the matched variant (or of ``"true"`` for an enabled boolean
    flag), ``None`` otherwise. ``condition_index`` is the 0-based condition set that decided the
    result (the matching one, or the first one whose rollout excluded the subject).
    """

    key: str
    enabled: bool
    variant: str | None
    payload: Any
    reason: str
    condition_index: int | None
    description: str
    flag_id: int | None
    version: int | None
    inconclusive: bool = False
    error: str | None = None

    @property
    def value(self) -> bool | str:
        """The flag's value as PostHog reports it: the variant if there is one, else enabled."""
        return self.variant if self.variant is not None else self.enabled


class DefinitionError(msgspec.Struct, frozen=True):
    """One problem in a flag or cohort definition: where (a dotted path) and what."""

    path: str
    reason: str


class Inconclusive(Exception):  # control flow, not an error
    """Local evaluation cannot decide this (PostHog's ``InconclusiveMatchError``); other
    conditions of the flag may still decide it."""

    def __init__(self, message: str, reason: str = MISSING_CONTEXT) -> None:
        super().__init__(message)
        self.reason = reason


class NeedsServer(Exception):  # control flow, not an error
    """Only the server can decide this (PostHog's ``RequiresServerEvaluation``): it stops the
    whole flag instead of letting a later condition decide it."""

    def __init__(self, message: str, reason: str = UNSUPPORTED_DEFINITION) -> None:
        super().__init__(message)
        self.reason = reason


class BrokenDefinition(Exception):
    """A definition PostHog would fail on with an ordinary exception when it reaches this part."""


Value = bool | str
GroupsContext = tuple[Mapping[Any, Any], Mapping[Any, Any]]  # (groups, group_properties)
# A compiled flag's ``match``: (subject, props, bucketing, context, groups) -> (value, deciding
# condition, reason); it raises when local evaluation cannot decide.
Match = Callable[
    [object, Mapping[Any, Any], object, "Context", GroupsContext | None],
    tuple[Value, int | None, str],
]


class DependencyFlag(Protocol):
    """What a flag dependency needs of another compiled flag (``_flag.CompiledFlag``): declared
    here so that the per-call context can name it without importing the flag module."""

    active: bool
    continuity: bool
    broken: str | None
    aggregation: Any
    device_bucketing: bool

    @property
    def match(self) -> Match:
        """``CompiledFlag.match``, whose signature is the one place the parameters are named."""
        ...


class Context:
    """Per-call evaluation state: created for every ``evaluate``/``evaluate_all`` call, so the
    compiled flag set itself stays immutable and shareable between threads."""

    __slots__ = (
        "_now",
        "complete",
        "dep_cache",
        "device_id",
        "flags",
        "id_bytes",
        "membership",
        "subject",
    )

    def __init__(
        self,
        flags: Mapping[str, DependencyFlag],
        complete: bool,
        membership: Collection[str] | None,
        device_id: str | None,
    ) -> None:
        self.flags = flags
        self.complete = complete
        self.membership = membership
        self.device_id = device_id
        self.id_bytes: bytes | None = None  # the distinct id, encoded once for hashing
        self.subject: object = None  # the id flag dependencies are evaluated for
        self.dep_cache: dict[Any, Any] | None = None  # per top-level flag, as in PostHog
        self._now: datetime | None = None

    def now(self) -> datetime:
        """The current UTC time, read once per call so every date filter of a call agrees."""
        if self._now is None:
            self._now = datetime.now(UTC)
        return self._now

    def undecided(self, message: str, reason: str = MISSING_CONTEXT) -> bool:
        """Locally: raise inconclusive. With complete data: the filter simply does not match."""
        if self.complete:
            return False
        raise Inconclusive(message, reason)


# A compiled filter: (the properties it reads, the call's context) -> matched.
Predicate = Callable[[Mapping[Any, Any], Context], bool]
