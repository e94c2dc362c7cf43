"""PostHog-compatible bucketing: the first 15 hex digits of a SHA-1, scaled to [0, 1].

PostHog hashes ``f"{flag_key}.{identifier}{salt}"``; rollouts compare the result with the
percentage, variants use the salt ``"variant"``, holdouts hash ``f"holdout-{identifier}"``. Here
the digest is read as bytes (the top 60 bits of the first 8 bytes are the same 15 hex digits) and
the SHA-1 state of the constant prefix is computed once per flag and copied per evaluation.
"""

from __future__ import annotations

import hashlib
from typing import Final

_SCALE: Final = float(0xFFFFFFFFFFFFFFF)
_from_bytes = int.from_bytes


def bucket(key: str, distinct_id: str, salt: str = "") -> float:
    """The subject's position in [0, 1] for flag ``key`` (PostHog's rollout hash)."""
    digest = hashlib.sha1(f"{key}.{distinct_id}{salt}".encode(), usedforsecurity=False).digest()
    return (_from_bytes(digest[:8], "big") >> 4) / _SCALE


class Hasher:
    """Hashes identifiers for one fixed prefix (``"<flag key>."`` or ``"holdout-"``) and salt."""

    __slots__ = ("_salt", "_state")

    def __init__(self, prefix: str, salt: str = "") -> None:
        self._state = hashlib.sha1(prefix.encode(), usedforsecurity=False)
        self._salt = salt

    def __call__(self, identifier: object) -> float:
        state = self._state.copy()
        state.update(f"{identifier}{self._salt}".encode())
        return (_from_bytes(state.digest()[:8], "big") >> 4) / _SCALE
