"""PostHog-compatible bucketing: the first 15 hex digits of a SHA-1, scaled to [0, 1].

PostHog hashes ``f"{flag_key}.{identifier}{salt}"``; rollouts compare the result with the
percentage, variants use the salt ``"variant"``, holdouts hash ``f"holdout-{identifier}"``. Here
the digest is read as bytes (the top 60 bits of the first 8 bytes are the same 15 hex digits) and
the SHA-1 state of the constant prefix is computed once per flag and copied per evaluation.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import Final

_SCALE: Final = float(0xFFFFFFFFFFFFFFF)
_first_word = struct.Struct(">Q").unpack_from

# identifier -> position in [0, 1]
Hasher = Callable[[object], float]
# the identifier already formatted and UTF-8 encoded -> position in [0, 1]
BytesHasher = Callable[[bytes], float]


def bucket(key: str, distinct_id: str, salt: str = "") -> float:
    """The subject's position in [0, 1] for flag ``key`` (PostHog's rollout hash)."""
    digest = hashlib.sha1(f"{key}.{distinct_id}{salt}".encode(), usedforsecurity=False).digest()
    word: int = _first_word(digest)[0]
    return (word >> 4) / _SCALE


def hasher(prefix: str, salt: str = "") -> tuple[Hasher, BytesHasher]:
    """Positions of identifiers for one fixed prefix (``"<flag key>."``, ``"holdout-"``) and
    salt: from the identifier (formatted as PostHog formats it, ``f"{identifier}"``), and from
    its encoded text when the caller has it already."""
    fresh = hashlib.sha1(prefix.encode(), usedforsecurity=False).copy
    tail = salt.encode()
    scale = _SCALE
    first_word = _first_word

    def from_bytes(encoded: bytes) -> float:
        state = fresh()
        state.update(encoded + tail if tail else encoded)
        word: int = first_word(state.digest())[0]
        return (word >> 4) / scale

    def position(identifier: object) -> float:
        text = identifier if type(identifier) is str else f"{identifier}"
        return from_bytes(text.encode())

    return position, from_bytes
