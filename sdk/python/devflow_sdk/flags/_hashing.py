"""PostHog-compatible bucketing: the first 15 hex digits of a SHA-1, scaled to [0, 1].

PostHog hashes ``f"{flag_key}.{identifier}{salt}"``; rollouts compare the result with the
percentage, variants use the salt ``"variant"``, holdouts hash ``f"holdout-{identifier}"``. Here
the digest is read as bytes (the top 60 bits of the first 8 bytes are the same 15 hex digits) and
the SHA-1 state of the constant prefix is computed once per flag and copied per evaluation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

_SCALE: Final = float(0xFFFFFFFFFFFFFFF)
_from_bytes = int.from_bytes

# identifier -> position in [0, 1]
Hasher = Callable[[object], float]


def bucket(key: str, distinct_id: str, salt: str = "") -> float:
    """The subject's position in [0, 1] for flag ``key`` (PostHog's rollout hash)."""
    digest = hashlib.sha1(f"{key}.{distinct_id}{salt}".encode(), usedforsecurity=False).digest()
    return (_from_bytes(digest[:8], "big") >> 4) / _SCALE


def hasher(prefix: str, salt: str = "") -> Hasher:
    """Positions of identifiers for one fixed prefix (``"<flag key>."``, ``"holdout-"``) and
    salt. Identifiers are formatted as PostHog formats them (``f"{identifier}"``)."""
    fresh = hashlib.sha1(prefix.encode(), usedforsecurity=False).copy
    scale = _SCALE
    from_bytes = _from_bytes

    if not salt:

        def position(identifier: object) -> float:
            state = fresh()
            state.update(
                identifier.encode() if type(identifier) is str else f"{identifier}".encode()
            )
            return (from_bytes(state.digest()[:8], "big") >> 4) / scale

        return position

    def salted(identifier: object) -> float:
        state = fresh()
        state.update(f"{identifier}{salt}".encode())
        return (from_bytes(state.digest()[:8], "big") >> 4) / scale

    return salted
