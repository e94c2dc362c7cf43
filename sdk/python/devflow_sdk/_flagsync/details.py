"""What a flag evaluation hands back to the caller, however it was decided."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:
    from devflow_sdk.flags import Evaluation

# Why a flag has no value (``FlagDetails.error``).
FLAG_NOT_FOUND: Final = "flag_not_found"  # the definitions (or the server) don't have this key
NOT_READY: Final = "not_ready"  # no definitions yet, and the server could not answer instead
UNAVAILABLE: Final = "unavailable"  # only the server can decide, and it could not be asked
EVALUATION_ERROR: Final = "evaluation_error"  # the definition could not be evaluated

# Reason codes as the engine and ``/flags`` report them.
CONDITION_MATCH: Final = "condition_match"
OUT_OF_ROLLOUT_BOUND: Final = "out_of_rollout_bound"
FLAG_DISABLED: Final = "flag_disabled"


class FlagDetails(msgspec.Struct, frozen=True, kw_only=True):
    """One flag for one subject, with how it was decided.

    ``value`` is PostHog's flag value (the variant, else ``True``/``False``), or ``None`` when
    there is no answer; ``error`` then says why. ``payload`` is the matched payload as the
    definitions hold it (JSON text); :func:`decode_payload` turns it into a value. ``split`` is
    true when pseudo-random bucketing (a rollout percentage or a variant split) decided the
    result rather than targeting alone.
    """

    key: str
    value: bool | str | None
    reason: str
    variant: str | None = None
    payload: Any = None
    description: str = ""
    condition_index: int | None = None
    flag_id: int | None = None
    version: int | None = None
    split: bool = False
    locally_evaluated: bool = False
    error: str | None = None
    request_id: str | None = None

    @property
    def enabled(self) -> bool:
        return self.value is not None and self.value is not False


def failure(key: str, error: str, description: str) -> FlagDetails:
    return FlagDetails(key=key, value=None, reason="error", error=error, description=description)


def from_evaluation(ev: Evaluation, definition: Mapping[str, Any] | None) -> FlagDetails:
    """A local engine result (conclusive or not) as details."""
    if ev.inconclusive:
        return failure(ev.key, UNAVAILABLE, ev.description)
    if ev.error is not None:
        return failure(ev.key, EVALUATION_ERROR, ev.description)
    return FlagDetails(
        key=ev.key,
        value=ev.value,
        reason=ev.reason,
        variant=ev.variant,
        payload=ev.payload,
        description=ev.description,
        condition_index=ev.condition_index,
        flag_id=ev.flag_id,
        version=ev.version,
        split=is_split(definition, ev.reason, ev.condition_index, ev.variant),
        locally_evaluated=True,
    )


def is_split(
    definition: Mapping[str, Any] | None,
    reason: str,
    condition_index: int | None,
    variant: str | None,
) -> bool:
    """Whether bucketing, not targeting alone, decided the result: the subject fell outside a
    rollout, was admitted by a rollout under 100 %, or got a variant by percentage."""
    if reason == OUT_OF_ROLLOUT_BOUND:
        return True
    if reason != CONDITION_MATCH or definition is None or condition_index is None:
        return False
    filters = definition.get("filters")
    if not isinstance(filters, Mapping):
        return False
    conditions = filters.get("groups")
    if not isinstance(conditions, list) or not 0 <= condition_index < len(conditions):
        return False
    condition = conditions[condition_index]
    if not isinstance(condition, Mapping):
        return False
    rollout = condition.get("rollout_percentage")
    if isinstance(rollout, int | float) and rollout < 100:
        return True
    if variant is None or condition.get("variant") is not None:
        return False  # no variant, or the condition names it (targeting, not a split)
    multivariate = filters.get("multivariate")
    variants = multivariate.get("variants") if isinstance(multivariate, Mapping) else None
    if not isinstance(variants, list):
        return False
    shares = [v.get("rollout_percentage") for v in variants if isinstance(v, Mapping)]
    return any(isinstance(s, int | float) and 0 < s < 100 for s in shares)


_decoder = msgspec.json.Decoder()


def decode_payload(raw: Any) -> Any:
    """A payload as a value: JSON text is decoded (``msgspec.DecodeError`` when it is not
    JSON); anything else is already a value."""
    if isinstance(raw, str):
        return _decoder.decode(raw)
    return raw
