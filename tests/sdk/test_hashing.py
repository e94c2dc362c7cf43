"""Bucketing is PostHog's: sha1 of ``key.id + salt``, first 15 hex digits over 0xFFFFFFFFFFFFFFF."""

from __future__ import annotations

import hashlib
import random

import pytest
from devflow_sdk.flags import FlagSet, bucket
from devflow_sdk.flags._hashing import hasher
from posthog.feature_flags import _hash as posthog_hash


def _formula(key: str, distinct_id: str, salt: str = "") -> float:
    digest = hashlib.sha1(f"{key}.{distinct_id}{salt}".encode()).hexdigest()
    return int(digest[:15], 16) / 0xFFFFFFFFFFFFFFF


@pytest.mark.parametrize(
    ("key", "distinct_id", "salt", "expected"),
    [
        ("beta-feature", "user-1", "", 0.7264912549260886),
        ("beta-feature", "user-1", "variant", 0.14578218334266493),
        ("simple-flag", "some-distinct-id", "", 0.477755795905271),
        ("flag", "ユーザー", "", 0.01394337324209022),
    ],
)
def test_known_vectors(key: str, distinct_id: str, salt: str, expected: float) -> None:
    assert bucket(key, distinct_id, salt) == expected
    assert _formula(key, distinct_id, salt) == expected


def test_matches_posthog_on_random_inputs() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        key = "".join(rng.choice("abcxyz-_.0123") for _ in range(rng.randint(1, 20)))
        ident = "".join(rng.choice("abc😀é 9@") for _ in range(rng.randint(0, 30)))
        salt = rng.choice(["", "variant"])
        assert bucket(key, ident, salt) == posthog_hash(key, ident, salt)
        assert hasher(f"{key}.", salt)[0](ident) == posthog_hash(key, ident, salt)


def test_non_string_identifiers_are_formatted_like_posthog() -> None:
    # Group keys may be integers: PostHog formats them into the hashed text.
    assert hasher("flag.")[0](42) == posthog_hash("flag", 42)
    assert hasher("flag.", "variant")[0](42) == posthog_hash("flag", 42, "variant")


def test_rollout_boundary_uses_strictly_greater() -> None:
    # A subject is in a rollout of p% when its position is <= p/100.
    position = bucket("edge", "someone")
    threshold_pct = position * 100
    flags = FlagSet(
        [
            {
                "key": "edge",
                "active": True,
                "filters": {"groups": [{"properties": [], "rollout_percentage": threshold_pct}]},
            }
        ]
    )
    result = flags.evaluate("edge", "someone")
    assert result is not None
    expected = not (position > threshold_pct / 100)
    assert result.enabled is expected


def test_variant_ranges_are_cumulative() -> None:
    flags = FlagSet(
        [
            {
                "key": "mv",
                "active": True,
                "filters": {
                    "groups": [{"properties": [], "rollout_percentage": 100}],
                    "multivariate": {
                        "variants": [
                            {"key": "a", "rollout_percentage": 20},
                            {"key": "b", "rollout_percentage": 30},
                            {"key": "c", "rollout_percentage": 50},
                        ]
                    },
                },
            }
        ]
    )
    for n in range(300):
        position = bucket("mv", f"u{n}", "variant")
        expected = "a" if position < 0.2 else "b" if position < 0.5 else "c"
        result = flags.evaluate("mv", f"u{n}")
        assert result is not None
        assert result.variant == expected
